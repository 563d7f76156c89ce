"""Pure campaign rules: seed 004's batch table, the reminder wording, and pacing arithmetic.

Seed 004 ("对存量用户实施全量订购提醒") numbers the batches like this:

=========  ==============================  ======  ======  ======  ======
brand      sensitive (more than 5 subs)     WAP     SMS     MMS     other
=========  ==============================  ======  ======  ======  ======
神州行       1 (every brand)                 2 · 3   4 · 5   6 · 7   8 · 9
动感地带                                      10 · 11 12 · 13 14 · 15 16 · 17
全球通                                        18 · 19 20 · 21 22 · 23 24 · 25
=========  ==============================  ======  ======  ======  ======

Each "a · b" pair is "ordered in the last 3 months · earlier". The seed's columns are the
service kinds (WAP, 梦网短信, 彩信, 其他业务订购用户). Subscribers of a brand the seed does not
name go last, in batches 26–33 with the same columns (our extension). A sensitive subscriber gets
one SMS listing every subscription (batch 1); anyone else gets one SMS per batch their
subscriptions fall in, listing just those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from mingbai.clock import SHANGHAI, ensure_utc
from mingbai.messaging.rules import in_quiet_hours

SENSITIVE_BATCH = 1
#: "定购关系高于5条": more than five active subscriptions
SENSITIVE_OVER = 5
BRANDS = ("easyown", "mzone", "gotone", "other")
BRAND_ZH = {"easyown": "神州行", "mzone": "动感地带", "gotone": "全球通", "other": "其他品牌"}
KIND_GROUPS = ("wap", "sms", "mms", "other")
KIND_ZH = {"wap": "WAP业务", "sms": "梦网短信业务", "mms": "彩信业务", "other": "其他业务"}
RECENT_MONTHS = 3

HEAD = "中国移动温馨提示:您已定制以下梦网业务:"
#: the stock reminder adds the SMS way to unsubscribe to the phone one (seed 004)
TAIL = "如需退订,请拨打10086,或发送“0000”到10086。中国移动"


def kind_group(service_type: str) -> str:
    return service_type if service_type in ("wap", "sms", "mms") else "other"


def batch_no(brand: str, group: str, recent: bool) -> int:
    b = BRANDS.index(brand) if brand in BRANDS else BRANDS.index("other")
    return 2 + b * 8 + KIND_GROUPS.index(group) * 2 + (0 if recent else 1)


@dataclass(frozen=True)
class Batch:
    no: int
    label: str
    brand: str | None
    group: str | None
    recent: bool | None


def batch_table() -> list[Batch]:
    rows = [Batch(SENSITIVE_BATCH, "敏感用户(订购关系多于5条)", None, None, None)]
    for brand in BRANDS:
        for group in KIND_GROUPS:
            for recent in (True, False):
                when = "三月内新增订购" if recent else "非三月内新增订购"
                rows.append(
                    Batch(
                        batch_no(brand, group, recent),
                        f"{BRAND_ZH[brand]}·{KIND_ZH[group]}·{when}",
                        brand,
                        group,
                        recent,
                    )
                )
    return rows


def recent_since(now: datetime) -> datetime:
    """Start of "the last 3 months": the same Shanghai wall-clock time three months earlier."""
    local = ensure_utc(now).astimezone(SHANGHAI)
    month = local.month - RECENT_MONTHS
    year = local.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    day = min(local.day, _days_in(year, month))
    return local.replace(year=year, month=month, day=day).astimezone(ensure_utc(now).tzinfo)


def _days_in(year: int, month: int) -> int:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def reminder_text(labels: list[str]) -> str:
    items = ";".join(f"{i}.{label}" for i, label in enumerate(labels, start=1))
    return f"{HEAD}{items}。{TAIL}"


# -- pacing --------------------------------------------------------------------------------------


def quiet_boundary(at: datetime, quiet: tuple[time, time] | None) -> datetime | None:
    """The next instant after ``at`` at which quiet hours start or end (None without quiet hours)."""
    if quiet is None:
        return None
    local = ensure_utc(at).astimezone(SHANGHAI)
    candidates = []
    for t in quiet:
        c = local.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
        if c <= local:
            c += timedelta(days=1)
        candidates.append(c)
    return min(candidates).astimezone(ensure_utc(at).tzinfo)


def waiting_reason(
    now: datetime,
    *,
    status: str,
    released: int,
    planned: int,
    starts_at: datetime,
    ends_at: datetime,
    quiet: tuple[time, time] | None,
) -> tuple[str, datetime] | None:
    """Why a running campaign releases nothing now, and until when: ``("not_started", start)``,
    ``("quiet_hours", their end)``; None when it is releasing (or not running, or done)."""
    if status != "running" or released >= planned or now >= ends_at:
        return None
    if now < starts_at:
        return "not_started", starts_at
    if quiet is not None and in_quiet_hours(ensure_utc(now).astimezone(SHANGHAI).time(), quiet):
        end = (
            ensure_utc(now)
            .astimezone(SHANGHAI)
            .replace(hour=quiet[1].hour, minute=quiet[1].minute, second=0, microsecond=0)
        )
        if end <= ensure_utc(now).astimezone(SHANGHAI):
            end += timedelta(days=1)
        return "quiet_hours", end.astimezone(ensure_utc(now).tzinfo)
    return None


@dataclass(frozen=True)
class Slots:
    """``count`` sends due every ``1/rate`` seconds from ``first``; ``cursor`` is where the next release starts."""

    first: datetime
    count: int
    cursor: datetime


def next_slots(
    *,
    now: datetime,
    cursor: datetime | None,
    starts_at: datetime,
    ends_at: datetime,
    rate: float,
    quiet: tuple[time, time] | None,
    horizon: timedelta,
    remaining: int,
) -> Slots | None:
    """The send slots to hand out now: from the cursor (never in the past: time lost while the
    sender was down is not caught up in a burst) to ``now + horizon``, stopping at the window's
    end and at the start of the quiet hours. None when nothing may be released now."""
    start = max(cursor or now, now, starts_at)
    if start >= ends_at or remaining <= 0:
        return None
    if in_quiet_hours(start.astimezone(SHANGHAI).time(), quiet):
        return None
    end = min(now + horizon, ends_at)
    boundary = quiet_boundary(start, quiet)
    if boundary is not None:
        end = min(end, boundary)
    if end <= start:
        return None
    count = min(remaining, math.floor((end - start).total_seconds() * rate))
    if count <= 0:
        return None
    return Slots(start, count, start + timedelta(seconds=count / rate))


def sending_seconds(starts_at: datetime, ends_at: datetime, quiet: tuple[time, time] | None) -> float:
    """Seconds of the window outside the quiet hours."""
    total = 0.0
    at = starts_at
    while at < ends_at:
        boundary = quiet_boundary(at, quiet) or ends_at
        step_end = min(boundary, ends_at)
        if not in_quiet_hours(at.astimezone(SHANGHAI).time(), quiet):
            total += (step_end - at).total_seconds()
        at = step_end
    return total
