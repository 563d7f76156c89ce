"""放心体验 boundaries, decided on the Asia/Shanghai calendar (R3, seed 004)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.clock import SHANGHAI, local_date, next_month_start
from mingbai.subscriptions.rules import first_charge_on, trial_first_charge_on, trial_wording


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("confirmed", "first_charge"),
    [
        (sh(2026, 4, 1, 0, 0, 0), date(2026, 5, 1)),
        (sh(2026, 4, 20, 23, 59, 59), date(2026, 5, 1)),
        (sh(2026, 4, 21, 0, 0, 0), date(2026, 6, 1)),
        (sh(2026, 4, 30, 23, 59, 59), date(2026, 6, 1)),
        # the same instants in UTC: 20th 23:59:59 Shanghai is 15:59:59 UTC
        (datetime(2026, 4, 20, 15, 59, 59, tzinfo=UTC), date(2026, 5, 1)),
        (datetime(2026, 4, 20, 16, 0, 0, tzinfo=UTC), date(2026, 6, 1)),
        # UTC still says the 31st while Shanghai is already on the 1st
        (datetime(2026, 3, 31, 16, 30, tzinfo=UTC), date(2026, 5, 1)),
        # February, common and leap
        (sh(2026, 2, 20, 23, 59, 59), date(2026, 3, 1)),
        (sh(2026, 2, 28, 12, 0), date(2026, 4, 1)),
        (sh(2028, 2, 29, 12, 0), date(2028, 4, 1)),
        (sh(2028, 2, 21, 0, 0), date(2028, 4, 1)),
        # December → January (and November → January across the year)
        (sh(2026, 12, 20, 10, 0), date(2027, 1, 1)),
        (sh(2026, 12, 21, 0, 0), date(2027, 2, 1)),
        (sh(2026, 11, 30, 23, 0), date(2027, 1, 1)),
        (sh(2026, 12, 31, 23, 59, 59), date(2027, 2, 1)),
    ],
)
def test_trial_boundaries(confirmed: datetime, first_charge: date) -> None:
    assert trial_first_charge_on(confirmed) == first_charge


def test_reorder_and_other_billing() -> None:
    at = sh(2026, 4, 10, 9, 0)
    assert first_charge_on("monthly", at, first_order=True) == date(2026, 5, 1)
    assert first_charge_on("monthly", at, first_order=False) == date(2026, 4, 10)
    assert first_charge_on("per_use", at, first_order=True) == date(2026, 4, 10)
    assert first_charge_on("free", at, first_order=True) is None


def test_wording_follows_seed_templates() -> None:
    early, late = sh(2026, 4, 20, 23, 0), sh(2026, 4, 21, 1, 0)
    assert trial_wording(trial_first_charge_on(early), early, in_trial=True) == "当月免信息费"
    assert trial_wording(trial_first_charge_on(late), late, in_trial=True) == "下月底前免信息费"
    assert trial_wording(date(2026, 4, 10), early, in_trial=False) == ""


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 1), timezones=st.just(UTC)))
def test_trial_is_one_or_two_whole_months(at: datetime) -> None:
    day = local_date(at)
    first = trial_first_charge_on(at)
    assert first.day == 1 and first > day
    expected = next_month_start(day) if day.day <= 20 else next_month_start(next_month_start(day))
    assert first == expected
