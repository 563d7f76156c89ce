"""Pure charging rules: no database, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.charging.packages import PACKAGES, MonthUsage, Package, advise, find_package, month_cost
from mingbai.charging.rules import (
    LedgerItem,
    SkipReason,
    card_expires_on,
    crossed_percent,
    crossed_step,
    monthly_skip_reason,
    parse_billing_period,
    points_for_payment,
    reminder_due_at,
    settle,
    traffic_alerts,
)
from mingbai.clock import SHANGHAI

APRIL = parse_billing_period("2026-04")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_period_bounds_are_shanghai_midnights():
    assert APRIL.start == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert APRIL.end == datetime(2026, 4, 30, 16, 0, tzinfo=UTC)
    assert APRIL.zh == "2026年4月" and APRIL.previous().label == "2026-03"
    assert parse_billing_period("2026-12").next_first_day == date(2027, 1, 1)
    for bad in ("2026-4", "2026/04", "26-04", "2026-13", "april", ""):
        with pytest.raises(ValueError):
            parse_billing_period(bad)


def reason(**kw):
    base = dict(
        billing="monthly",
        price_fen=500,
        confirmed_at=sh(2026, 2, 1),
        unsubscribed_at=None,
        first_charge_on=date(2026, 2, 1),
        period=APRIL,
        now=sh(2026, 4, 1, 0, 5),
    )
    return monthly_skip_reason(**(base | kw))


def test_skip_reasons_in_order():
    assert reason() is None
    assert reason(billing="per_use") is SkipReason.NOT_MONTHLY
    assert reason(confirmed_at=sh(2026, 4, 1, 0, 6)) is SkipReason.ORDERED_AFTER  # after the run's now
    assert reason(unsubscribed_at=sh(2026, 3, 31, 23, 59, 59)) is SkipReason.UNSUBSCRIBED_BEFORE
    assert reason(unsubscribed_at=sh(2026, 4, 1)) is None  # there at 00:00: the month is due
    assert reason(first_charge_on=date(2026, 5, 1)) is SkipReason.IN_TRIAL
    assert reason(first_charge_on=None) is SkipReason.IN_TRIAL
    assert reason(price_fen=0) is SkipReason.FREE
    # a re-order confirmed during the month owes the month even when cancelled again
    assert (
        reason(
            confirmed_at=sh(2026, 4, 1, 0, 1), first_charge_on=date(2026, 4, 1), unsubscribed_at=sh(2026, 4, 1, 0, 2)
        )
        is None
    )
    # a month run after it ended sees the whole month
    later = sh(2026, 5, 3)
    assert reason(confirmed_at=sh(2026, 4, 30, 23), first_charge_on=date(2026, 4, 30), now=later) is None
    assert reason(confirmed_at=sh(2026, 5, 1), first_charge_on=date(2026, 5, 1), now=later) is SkipReason.ORDERED_AFTER


def test_reminders_wait_for_daytime():
    assert reminder_due_at(sh(2026, 4, 1, 0, 5)) == sh(2026, 4, 1, 8, 0)
    assert reminder_due_at(sh(2026, 4, 1, 8, 0)) == sh(2026, 4, 1, 8, 0)
    assert reminder_due_at(sh(2026, 4, 1, 20, 59)) == sh(2026, 4, 1, 20, 59)
    assert reminder_due_at(sh(2026, 4, 1, 21, 0)) == sh(2026, 4, 2, 8, 0)


def test_recharge_card_validity_seed_002():
    assert card_expires_on(date(2012, 1, 1)) == date(2016, 12, 31)  # new cards: 5 years
    assert card_expires_on(date(2020, 2, 29)) == date(2025, 2, 27)
    # issued before 2012 and not expired then: 3 more years (2 + 3 = 5 in total)
    assert card_expires_on(date(2011, 6, 1), date(2013, 5, 31)) == date(2016, 5, 31)
    # already expired before the rule: stays expired
    assert card_expires_on(date(2009, 1, 1), date(2010, 12, 31)) == date(2010, 12, 31)
    with pytest.raises(ValueError):
        card_expires_on(date(2011, 6, 1))


T0 = datetime(2026, 4, 1, tzinfo=UTC)


def test_settle_records_a_short_balance_as_owed_and_repays_it_first():
    s = settle([LedgerItem(T0, 300), LedgerItem(T0 + timedelta(hours=1), -500, 1)])
    assert (s.balance_fen, s.owed_fen, s.owed_by_charge) == (0, 200, {1: 200})
    s = settle(
        [
            LedgerItem(T0, 300),
            LedgerItem(T0 + timedelta(hours=1), -500, 1),
            LedgerItem(T0 + timedelta(hours=2), -100, 2),
            LedgerItem(T0 + timedelta(hours=3), 250, None),
        ]
    )
    assert (s.balance_fen, s.owed_fen, s.owed_by_charge) == (0, 50, {2: 50})  # the older charge paid first
    assert points_for_payment(5099) == 50 and points_for_payment(0) == 0


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(-5000, 5000).filter(bool)), max_size=40))
def test_settle_never_loses_a_fen(entries):
    items = [
        LedgerItem(T0 + timedelta(minutes=t), amount, i if amount < 0 else None)
        for i, (t, amount) in enumerate(entries)
    ]
    s = settle(items)
    credits = sum(a for _, a in entries if a > 0)
    charges = -sum(a for _, a in entries if a < 0)
    assert s.balance_fen - s.owed_fen == credits - charges
    assert s.balance_fen >= 0 and 0 <= s.owed_fen <= charges
    assert s.balance_fen == 0 or s.owed_fen == 0
    assert sum(s.owed_by_charge.values()) == s.owed_fen


def test_thresholds_cross_once_and_the_highest_wins():
    mb = 1024
    assert crossed_percent(0, 240 * mb, 500 * mb, (50, 80, 100)) is None
    assert crossed_percent(240 * mb, 250 * mb, 500 * mb, (50, 80, 100)) == 50
    assert crossed_percent(250 * mb, 260 * mb, 500 * mb, (50, 80, 100)) is None  # 50% already passed
    assert crossed_percent(100 * mb, 450 * mb, 500 * mb, (50, 80, 100)) == 80
    assert crossed_percent(100 * mb, 900 * mb, 500 * mb, (50, 80, 100)) == 100
    assert crossed_percent(0, 900 * mb, 0, (50,)) is None  # no package allowance, no percentage
    assert crossed_step(0, 9 * mb, 10 * mb) is None
    assert crossed_step(9 * mb, 31 * mb, 10 * mb) == 3
    assert crossed_step(31 * mb, 39 * mb, 10 * mb) is None


def test_traffic_alert_keys():
    keys = [
        a.key
        for a in traffic_alerts(
            period="2026-04",
            ever_used_before=False,
            home_before_kb=0,
            home_after_kb=300 * 1024,
            abroad_before_kb=0,
            abroad_after_kb=25 * 1024,
            allowance_kb=500 * 1024,
        )
    ]
    assert keys == ["data:first", "data:2026-04:50", "roam:2026-04:first", "roam:2026-04:2"]
    later = traffic_alerts(
        period="2026-05",
        ever_used_before=True,
        home_before_kb=0,
        home_after_kb=10,
        abroad_before_kb=0,
        abroad_after_kb=0,
        allowance_kb=500 * 1024,
    )
    assert later == []


def usage(voice=0, sms=0, data_mb=0, period="2026-01"):
    return MonthUsage(period, voice, sms, data_mb * 1024)


def test_month_cost_counts_overage_by_started_mb():
    gt58 = find_package("gt58")
    assert gt58 is not None
    cost = month_cost(gt58, MonthUsage("2026-01", 160, 60, 500 * 1024 + 1))
    assert (cost.fee_fen, cost.voice_over_fen, cost.sms_over_fen, cost.data_over_fen) == (5800, 190, 0, 29)


def test_advisor_picks_the_cheapest_and_states_the_saving():
    heavy_talker = [usage(voice=400, data_mb=50, period=p) for p in ("2026-01", "2026-02", "2026-03")]
    a = advise("GT58", heavy_talker)
    # GT58: 58 + 250 min × 0.19 = 105.50 a month; GT88 (450 min) covers it for 88
    assert a.best_code == "GT88" and a.current_total_fen == 3 * 10550 and a.best_total_fen == 3 * 8800
    assert a.saving_fen == 3 * 1750 and a.switch
    light = [usage(voice=20, sms=10)]
    b = advise("BASIC", light)
    assert b.best_code == "BASIC" and b.saving_fen == 0 and not b.switch
    assert advise(None, light).current_total_fen is None
    with pytest.raises(ValueError):
        advise("GT58", [])


@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 1000), st.integers(0, 5000)), min_size=1, max_size=3),
    st.sampled_from([p.code for p in PACKAGES] + [None]),
)
def test_advice_is_never_worse_than_any_package(months, current):
    usages = [usage(v, s, d, f"2026-0{i + 1}") for i, (v, s, d) in enumerate(months)]
    a = advise(current, usages)
    for p in PACKAGES:
        assert a.best_total_fen <= sum(month_cost(p, u).total_fen for u in usages)
    assert a.saving_fen is None or a.saving_fen >= 0
    assert [q.total_fen for q in a.quotes] == sorted(q.total_fen for q in a.quotes)


def test_ties_keep_the_current_package():
    twins = [Package("A", "a", 1000, 10, 10, 10, 1, 1, 1), Package("B", "b", 1000, 10, 10, 10, 1, 1, 1)]
    assert advise("B", [usage()], twins).best_code == "B"
    assert advise(None, [usage()], twins).best_code == "A"
