"""The quiet hours: one definition, used by campaigns' default, the 21st–25th reminders and the
deduction reminders (no DB, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from mingbai.charging.rules import reminder_due_at
from mingbai.clock import QUIET_HOURS, SHANGHAI, after_quiet_hours, in_quiet_hours, quiet_hours_text
from mingbai.config import Settings
from mingbai.messaging import rules as sms_rules
from mingbai.subscriptions.reminders import monthly_reminder_due


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_the_window() -> None:
    assert (time(21, 0), time(8, 0)) == QUIET_HOURS
    assert quiet_hours_text() == "21:00-08:00"
    assert quiet_hours_text((time(12, 30), time(14, 0))) == "12:30-14:00"


def test_in_quiet_hours() -> None:
    assert in_quiet_hours(time(21, 0)) and in_quiet_hours(time(23, 59)) and in_quiet_hours(time(0, 0))
    assert in_quiet_hours(time(7, 59, 59))
    assert not in_quiet_hours(time(8, 0)) and not in_quiet_hours(time(20, 59, 59))
    assert not in_quiet_hours(time(3, 0), None)
    # a window within one day
    assert in_quiet_hours(time(13, 0), (time(12, 0), time(14, 0)))
    assert not in_quiet_hours(time(14, 0), (time(12, 0), time(14, 0)))


def test_after_quiet_hours() -> None:
    assert after_quiet_hours(sh(2026, 4, 1, 0, 5)) == sh(2026, 4, 1, 8, 0)
    assert after_quiet_hours(sh(2026, 4, 1, 8, 0)) == sh(2026, 4, 1, 8, 0)
    assert after_quiet_hours(sh(2026, 4, 1, 20, 59)) == sh(2026, 4, 1, 20, 59)
    assert after_quiet_hours(sh(2026, 4, 1, 21, 0)) == sh(2026, 4, 2, 8, 0)
    assert after_quiet_hours(sh(2026, 4, 30, 23, 0)) == sh(2026, 5, 1, 8, 0)
    assert after_quiet_hours(sh(2026, 4, 1, 21, 0)).tzinfo == UTC
    assert after_quiet_hours(sh(2026, 4, 1, 13, 0), (time(12, 0), time(14, 0))) == sh(2026, 4, 1, 14, 0)


def test_every_user_takes_the_one_definition() -> None:
    assert Settings().quiet_hours == quiet_hours_text()
    assert sms_rules.in_quiet_hours is in_quiet_hours
    for at in (sh(2026, 4, 22, 7, 59), sh(2026, 4, 22, 8, 0), sh(2026, 4, 22, 20, 59), sh(2026, 4, 22, 21, 0)):
        quiet = in_quiet_hours(at.time())
        assert monthly_reminder_due(at) is not quiet
        assert (reminder_due_at(at) == at) is not quiet


def test_monthly_reminder_days() -> None:
    assert not monthly_reminder_due(sh(2026, 4, 20, 12, 0))
    assert monthly_reminder_due(sh(2026, 4, 21, 8, 0))
    assert monthly_reminder_due(sh(2026, 4, 25, 20, 59))
    assert not monthly_reminder_due(sh(2026, 4, 26, 12, 0))
