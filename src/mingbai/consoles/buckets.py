"""Grouping a dashboard's days into weeks or months, so a long range keeps readable bars.

Pure: a list of days in, the buckets (label, positions of its days) out. Up to 90 days stay
days; up to 366 become ISO weeks (labelled by their Monday); longer ranges become months.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Unit = Literal["day", "week", "month"]

DAYS_AS_DAYS = 90
DAYS_AS_WEEKS = 366


def unit_for(n_days: int) -> Unit:
    if n_days <= DAYS_AS_DAYS:
        return "day"
    return "week" if n_days <= DAYS_AS_WEEKS // 2 else "month"


@dataclass(frozen=True)
class Bucket:
    label: str
    positions: tuple[int, ...]


def buckets(days: Sequence[date], unit: Unit) -> list[Bucket]:
    """The days' positions grouped by ``unit``, in order; a week is labelled by its Monday."""
    groups: dict[str, list[int]] = {}
    for i, day in enumerate(days):
        if unit == "day":
            label = day.isoformat()
        elif unit == "week":
            label = (day - timedelta(days=day.weekday())).isoformat()
        else:
            label = f"{day.year:04d}-{day.month:02d}"
        groups.setdefault(label, []).append(i)
    return [Bucket(label, tuple(pos)) for label, pos in groups.items()]


def sum_by(values: Sequence[int], groups: Sequence[Bucket]) -> list[int]:
    return [sum(values[i] for i in b.positions) for b in groups]
