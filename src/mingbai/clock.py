"""Time for business rules: stored in UTC, reasoned about in Asia/Shanghai.

Rules never call ``datetime.now()``; they receive a :class:`Clock` so that a month of
reminders and billing can be simulated in seconds and tests can stand on a boundary.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move (tests, ``--at``, simulations)."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = ensure_utc(at)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._at = self._at + delta
            return self._at


def ensure_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone; give an offset or Z")
    return value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse ISO-8601; a time without offset is read as Asia/Shanghai wall time."""
    raw = text.strip()
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 time: {text!r} (example: 2026-04-20T23:59:59+08:00)") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(UTC)


def local_text(instant: datetime, fmt: str | None = None) -> str:
    """An instant as a person reads it: Asia/Shanghai wall time. Without ``fmt``, with seconds
    and the offset (``2026-04-10 10:00:00+08:00``), as the CLI prints it; the consoles, whose
    every page is Shanghai time, pass a shorter ``fmt``."""
    local = ensure_utc(instant).astimezone(SHANGHAI)
    return local.strftime(fmt) if fmt else local.isoformat(sep=" ", timespec="seconds")


def local_date(instant: datetime) -> date:
    """The Asia/Shanghai business day of an instant."""
    return ensure_utc(instant).astimezone(SHANGHAI).date()


def local_midnight(day: date) -> datetime:
    """00:00 Asia/Shanghai of ``day``, as a UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def period_of(day: date) -> str:
    """Billing period label ``YYYY-MM``."""
    return f"{day.year:04d}-{day.month:02d}"


def parse_period(text: str) -> date:
    try:
        year_s, month_s = text.split("-")
        return date(int(year_s), int(month_s), 1)
    except ValueError as exc:
        raise ValueError(f"period must be YYYY-MM, got {text!r}") from exc


# -- quiet hours: no bulk SMS at night ----------------------------------------------------------

#: the night (Asia/Shanghai wall clock, [start, end)) in which no bulk SMS goes out: campaigns,
#: the 21st–25th reminders and the deduction reminders wait for its end (R4). The one definition:
#: ``Settings.quiet_hours`` defaults to its text and the reminders' windows are its complement.
QUIET_HOURS: tuple[time, time] = (time(21, 0), time(8, 0))


def quiet_hours_text(quiet: tuple[time, time] = QUIET_HOURS) -> str:
    """(21:00, 08:00) → "21:00-08:00", the form settings and campaigns are given."""
    return f"{quiet[0]:%H:%M}-{quiet[1]:%H:%M}"


def in_quiet_hours(local: time, quiet: tuple[time, time] | None = QUIET_HOURS) -> bool:
    """Whether a wall-clock time (Asia/Shanghai) falls in the quiet period [start, end)
    (None: no quiet hours)."""
    if quiet is None:
        return False
    start, end = quiet
    if start < end:
        return start <= local < end
    return local >= start or local < end


def after_quiet_hours(instant: datetime, quiet: tuple[time, time] = QUIET_HOURS) -> datetime:
    """``instant`` itself outside the quiet hours, else the moment they end (UTC)."""
    instant = ensure_utc(instant)
    local = instant.astimezone(SHANGHAI)
    if not in_quiet_hours(local.time(), quiet):
        return instant
    end = quiet[1]
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=SHANGHAI).astimezone(UTC)
