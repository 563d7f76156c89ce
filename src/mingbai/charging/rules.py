"""Pure charging rules: billing periods, who is charged for a month, when a reminder may go,
recharge-card validity, how credits settle charges, points, traffic-alert thresholds.

No database and no clock in here: every function is given the instant it reasons about. The
billing run's SQL (``billing.py``) states :func:`monthly_skip_reason` again as a CASE
expression; a test holds the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from mingbai.clock import (
    after_quiet_hours,
    ensure_utc,
    local_date,
    local_midnight,
    next_month_start,
    parse_period,
    period_of,
)

# -- billing periods -----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A billing month on the Asia/Shanghai calendar, with its bounds as UTC instants."""

    label: str  # "2026-04"
    first_day: date
    next_first_day: date

    @property
    def start(self) -> datetime:
        """00:00 Shanghai on the 1st: the instant the month's fee falls due (R3)."""
        return local_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return local_midnight(self.next_first_day)

    @property
    def zh(self) -> str:
        """ "2026年4月" as a bill says it."""
        return f"{self.first_day.year}年{self.first_day.month}月"

    @property
    def month_zh(self) -> str:
        """ "4月" as a deduction reminder says it (sent within days of the month it names)."""
        return f"{self.first_day.month}月"

    def previous(self) -> Period:
        return period_for(self.first_day - timedelta(days=1))


def parse_billing_period(text: str) -> Period:
    """ "2026-04" → the period; anything else is a clear ValueError."""
    raw = text.strip()
    if len(raw) != 7 or raw[4] != "-":
        raise ValueError(f"period must be YYYY-MM, got {text!r}")
    first = parse_period(raw)
    if not 2000 <= first.year <= 2999 or not 1 <= first.month <= 12:
        raise ValueError(f"period must be YYYY-MM, got {text!r}")
    return Period(period_of(first), first, next_month_start(first))


def period_for(day: date) -> Period:
    first = day.replace(day=1)
    return Period(period_of(first), first, next_month_start(first))


def period_at(instant: datetime) -> Period:
    return period_for(local_date(instant))


# -- who pays a month's fee ----------------------------------------------------------------


class SkipReason(StrEnum):
    """Why a subscription is not charged for a month (the run's summary counts each)."""

    NOT_MONTHLY = "not_monthly"
    ORDERED_AFTER = "ordered_after_period"
    UNSUBSCRIBED_BEFORE = "unsubscribed_before_period"
    IN_TRIAL = "in_trial"
    FREE = "free_of_charge"
    ALREADY_CHARGED = "already_charged"


def charge_upper_bound(period: Period, now: datetime) -> datetime:
    """Subscriptions confirmed before this instant count for the period: the month's end, or
    now while the month is running (later re-orders are picked up by the catch-up pass)."""
    return min(period.end, ensure_utc(now))


def monthly_skip_reason(
    *,
    billing: str,
    price_fen: int,
    confirmed_at: datetime,
    unsubscribed_at: datetime | None,
    first_charge_on: date | None,
    period: Period,
    now: datetime,
) -> SkipReason | None:
    """None when the subscription owes the month's fee, else why not.

    * The fee falls due at 00:00 on the 1st for the whole month (seed 004): a subscription
      active at that instant pays; one unsubscribed before it does not.
    * ``first_charge_on`` is the subscription core's answer to "when may fees start": the 1st
      after the free trial for a first order, the confirmation day for a re-order. A re-order
      confirmed during the month therefore owes that month's fee at once (else unsubscribing on
      the 30th and re-ordering on the 2nd would make every month free); it owes it even if it
      is cancelled again later in the month.
    * A trial month is never charged, whatever else is true.
    """
    if billing != "monthly":
        return SkipReason.NOT_MONTHLY
    if ensure_utc(confirmed_at) >= charge_upper_bound(period, now):
        return SkipReason.ORDERED_AFTER
    if unsubscribed_at is not None and ensure_utc(unsubscribed_at) < period.start:
        return SkipReason.UNSUBSCRIBED_BEFORE
    if first_charge_on is None or first_charge_on >= period.next_first_day:
        return SkipReason.IN_TRIAL
    if price_fen <= 0:
        return SkipReason.FREE
    return None


# -- when a reminder may be sent -----------------------------------------------------------


def reminder_due_at(now: datetime) -> datetime:
    """The month's fees are raised at 00:00, but nobody should be woken for 4 million
    deduction reminders: in the quiet hours (:data:`mingbai.clock.QUIET_HOURS`, 21:00–08:00
    Shanghai) they wait for their end."""
    return after_quiet_hours(now)


# -- recharge cards (seed 002) -------------------------------------------------------------

#: "自2012年1月1日起,所有新发行的充值卡有效期统一为5年"
CARD_RULE_FROM = date(2012, 1, 1)
CARD_VALID_YEARS = 5
#: "对于2012年1月1日前发行的未过期充值卡,有效期统一延长3年"
OLD_CARD_EXTENSION_YEARS = 3


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def card_expires_on(issued_on: date, printed_expiry: date | None = None) -> date:
    """The last day a recharge card can be used.

    Cards issued from 2012-01-01 are valid 5 years from issue. An older card keeps its printed
    expiry if that had passed before 2012-01-01; otherwise it gains 3 years (the old 2-year
    cards thereby reach the same 5 years in total).
    """
    if issued_on >= CARD_RULE_FROM:
        return _add_years(issued_on, CARD_VALID_YEARS) - timedelta(days=1)
    if printed_expiry is None:
        raise ValueError("a card issued before 2012-01-01 needs its printed expiry date")
    if printed_expiry < CARD_RULE_FROM:
        return printed_expiry
    return _add_years(printed_expiry, OLD_CARD_EXTENSION_YEARS)


# -- the prepaid ledger ----------------------------------------------------------------------

CREDIT_KINDS = ("recharge", "payment", "gift", "return", "refund")


@dataclass(frozen=True)
class LedgerItem:
    at: datetime
    #: positive: a credit (recharge, payment, gift, return, refund); negative: a charge
    amount_fen: int
    charge_id: int | None = None


@dataclass(frozen=True)
class Settlement:
    balance_fen: int  # what is left to spend (never negative)
    owed_fen: int  # charges not yet covered by any credit (欠费)
    #: charge id → fen of it still owed, for every charge not fully paid
    owed_by_charge: dict[int, int]


def settle(items: Iterable[LedgerItem]) -> Settlement:
    """Draw charges from the balance in time order; what the balance cannot cover is owed,
    and a later credit pays the oldest owed charge first. A charge is never dropped."""
    balance = 0
    owed: dict[int, int] = {}
    for item in sorted(items, key=lambda i: (i.at, i.amount_fen < 0, i.charge_id or 0)):
        if item.amount_fen >= 0:
            credit = item.amount_fen
            for charge_id in list(owed):
                if credit == 0:
                    break
                paid = min(credit, owed[charge_id])
                credit -= paid
                owed[charge_id] -= paid
                if owed[charge_id] == 0:
                    del owed[charge_id]
            balance += credit
        else:
            cost = -item.amount_fen
            paid = min(balance, cost)
            balance -= paid
            if cost > paid:
                owed[item.charge_id if item.charge_id is not None else -len(owed) - 1] = cost - paid
    return Settlement(balance, sum(owed.values()), owed)


def points_for_payment(amount_fen: int) -> int:
    """积分: one point per whole yuan paid in (recharge or payment); gifts earn nothing."""
    return max(0, amount_fen) // 100


# -- traffic alerts (R7) -----------------------------------------------------------------------

DEFAULT_ALERT_PERCENTS = (50, 80, 100)


@dataclass(frozen=True)
class TrafficAlert:
    """One alert to send: ``key`` is its dedupe key, unique per subscriber for ever."""

    key: str
    kind: str  # first_use | package | roaming_first | roaming_step
    value: int  # the threshold percent, or the roaming step's MB


def crossed_percent(before_kb: int, after_kb: int, allowance_kb: int, percents: Sequence[int]) -> int | None:
    """The highest threshold crossed by going from ``before`` to ``after`` (None if none).

    Several thresholds crossed at once give one alert, for the highest: nobody needs "50%"
    and "80%" in the same minute.
    """
    if allowance_kb <= 0 or after_kb <= before_kb:
        return None
    crossed = [p for p in percents if before_kb * 100 < p * allowance_kb <= after_kb * 100]
    return max(crossed) if crossed else None


def crossed_step(before_kb: int, after_kb: int, step_kb: int) -> int | None:
    """While roaming abroad: the highest whole step (1, 2, …) of ``step_kb`` newly reached."""
    if step_kb <= 0 or after_kb <= before_kb:
        return None
    step = after_kb // step_kb
    return step if step > before_kb // step_kb and step >= 1 else None


def traffic_alerts(
    *,
    period: str,
    ever_used_before: bool,
    home_before_kb: int,
    home_after_kb: int,
    abroad_before_kb: int,
    abroad_after_kb: int,
    allowance_kb: int,
    percents: Sequence[int] = DEFAULT_ALERT_PERCENTS,
    roaming_step_kb: int = 10 * 1024,
) -> list[TrafficAlert]:
    """Which alerts newly arriving data usage calls for (seed 002: 首次使用数据流量, 套餐达到一定标准,
    境外漫游产生数据流量). Each has a key that makes it once per subscriber, threshold and month."""
    out: list[TrafficAlert] = []
    used_now = home_after_kb + abroad_after_kb > home_before_kb + abroad_before_kb
    if used_now and not ever_used_before and home_before_kb + abroad_before_kb == 0:
        out.append(TrafficAlert("data:first", "first_use", 0))
    pct = crossed_percent(home_before_kb, home_after_kb, allowance_kb, percents)
    if pct is not None:
        out.append(TrafficAlert(f"data:{period}:{pct}", "package", pct))
    if abroad_after_kb > 0 and abroad_before_kb == 0:
        out.append(TrafficAlert(f"roam:{period}:first", "roaming_first", 0))
    step = crossed_step(abroad_before_kb, abroad_after_kb, roaming_step_kb)
    if step is not None:
        out.append(TrafficAlert(f"roam:{period}:{step}", "roaming_step", step * roaming_step_kb // 1024))
    return out
