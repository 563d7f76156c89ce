"""Time for business rules: stored in UTC, reasoned about in Asia/Shanghai.

Rules never call ``datetime.now()``; they receive a :class:`Clock` so that a month of
reminders and billing can be simulated in seconds and tests can stand on a boundary.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
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
