"""Pure subscription rules: the free trial, when an order is refused, confirmation codes and
their verdicts, the wrong-code lockout.

No database and no clock in here: every function is given the instant it reasons about.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from mingbai.clock import local_date, next_month_start

CHANNELS = ("sp", "sms", "web", "wap", "hotline", "hall", "terminal")
CHANNEL_ZH = {
    "sp": "SP渠道",
    "sms": "短信",
    "web": "网站",
    "wap": "WAP",
    "hotline": "10086热线",
    "hall": "营业厅",
    "terminal": "自助终端",
    "system": "系统",
}


# -- 放心体验: the free trial ------------------------------------------------------------

#: the last day of the month that still counts as "early": orders up to 20日24时 get that
#: month free, orders from 21日0时 get that month and the next (seed 004)
TRIAL_EARLY_LAST_DAY = 20


def trial_first_charge_on(confirmed_at: datetime) -> date:
    """The first day a monthly fee may be raised for a first order confirmed at that instant.

    Decided on the Asia/Shanghai calendar: 2026-04-20 23:59:59+08 → 2026-05-01,
    2026-04-21 00:00:00+08 → 2026-06-01.
    """
    day = local_date(confirmed_at)
    first = next_month_start(day)
    if day.day > TRIAL_EARLY_LAST_DAY:
        first = next_month_start(first)
    return first


def first_charge_on(billing: str, confirmed_at: datetime, *, first_order: bool) -> date | None:
    """When charging may start for a new subscription.

    * monthly, first order of this service by this subscriber: after the free trial;
    * monthly, re-order: the day of confirmation (the fee for the current month is due at once,
      otherwise unsubscribing on the 30th and re-ordering on the 2nd would make every month free);
    * per use: from confirmation, per use; free: never.
    """
    if billing == "free":
        return None
    if billing == "monthly" and first_order:
        return trial_first_charge_on(confirmed_at)
    return local_date(confirmed_at)


def trial_wording(first_charge: date | None, confirmed_at: datetime, *, in_trial: bool) -> str:
    """ "当月免信息费" / "下月底前免信息费" as in the seed's order reminder templates."""
    if not in_trial or first_charge is None:
        return ""
    confirmed_day = local_date(confirmed_at)
    if first_charge == next_month_start(confirmed_day):
        return "当月免信息费"
    return "下月底前免信息费"


# -- when an order is refused -------------------------------------------------------------


class Refusal(StrEnum):
    """Why an order is refused; the value is the error code an API caller sees."""

    UNKNOWN_SUBSCRIBER = "unknown_subscriber"
    SUBSCRIBER_INACTIVE = "subscriber_inactive"
    UNKNOWN_SERVICE = "unknown_service"
    SP_SUSPENDED = "sp_suspended"
    SERVICE_SUSPENDED = "service_suspended"
    ALREADY_SUBSCRIBED = "already_subscribed"
    PENDING_EXISTS = "pending_exists"


#: refusals that say the subscriber asked twice, not that the order may not be taken at all
DUPLICATES = frozenset({Refusal.ALREADY_SUBSCRIBED, Refusal.PENDING_EXISTS})


def subscriber_refusal(status: str | None) -> Refusal | None:
    """Whether the subscriber (its status, None when unknown) may place an order at all."""
    if status is None:
        return Refusal.UNKNOWN_SUBSCRIBER
    if status != "active":
        return Refusal.SUBSCRIBER_INACTIVE
    return None


def order_refusal(
    *, sp_status: str | None, service_status: str | None, subscribed: bool, pending: bool = False
) -> Refusal | None:
    """Whether an order of a service is refused, first reason first. Asked when the order is
    placed and again when its code confirms it, since the catalog or the subscriber's own
    subscriptions may have changed in between.

    ``sp_status``/``service_status`` are None for a service the caller may not see (unknown, or
    another SP's); ``subscribed``: the subscriber already has it active; ``pending``: another
    order of it is waiting for a code.
    """
    if sp_status is None or service_status is None:
        return Refusal.UNKNOWN_SERVICE
    if sp_status != "active":
        return Refusal.SP_SUSPENDED
    if service_status != "active":
        return Refusal.SERVICE_SUSPENDED
    if subscribed:
        return Refusal.ALREADY_SUBSCRIBED
    if pending:
        return Refusal.PENDING_EXISTS
    return None


# -- 动态二次确认: one-time confirmation codes --------------------------------------------


def new_code(digits: int = 6) -> str:
    """A uniformly random code from the secrets module (never ``random``)."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_mac(key: bytes, msisdn: str, order_id: int, code: str) -> str:
    """Codes are stored only as a MAC bound to subscriber and order: a database reader can
    neither read a code nor reuse one for another order or number."""
    msg = f"{msisdn}|{order_id}|{code}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeCandidate:
    order_id: int
    status: str  # pending | expired
    expires_at: datetime
    mac: str
    attempts: int


class CodeVerdict(StrEnum):
    CONFIRM = "confirm"
    EXPIRED = "expired"
    WRONG = "wrong"
    NO_PENDING = "no_pending"


@dataclass(frozen=True)
class CodeDecision:
    verdict: CodeVerdict
    order_id: int | None = None


def decide_code_reply(
    key: bytes, msisdn: str, code: str, candidates: list[CodeCandidate], now: datetime
) -> CodeDecision:
    """What a reply of ``code`` means, given the subscriber's recent orders.

    Every candidate's MAC is compared in constant time so response timing does not tell
    which orders exist.
    """
    live = [c for c in candidates if c.status == "pending" and c.expires_at > now]
    matched: CodeCandidate | None = None
    for c in candidates:
        if hmac.compare_digest(c.mac, code_mac(key, msisdn, c.order_id, code)):
            matched = c
    if matched is not None and matched in live:
        return CodeDecision(CodeVerdict.CONFIRM, matched.order_id)
    if matched is not None:
        return CodeDecision(CodeVerdict.EXPIRED, matched.order_id)
    if not live:
        return CodeDecision(CodeVerdict.NO_PENDING)
    return CodeDecision(CodeVerdict.WRONG)


def attempts_left(attempts: int, max_attempts: int) -> int:
    """Wrong codes an order may still take before it fails."""
    return max(0, max_attempts - attempts)


@dataclass(frozen=True)
class WrongCode:
    """What one wrong code does to the orders still waiting for a code."""

    #: each waiting order's count of wrong codes after this one, in the order given
    attempts: tuple[int, ...]
    #: which of them reached the limit and fail now
    failed: tuple[bool, ...]
    #: wrong codes the subscriber may still send (the fewest any waiting order allows)
    left: int

    @property
    def locked(self) -> bool:
        """Some order failed: the reply says so instead of counting down."""
        return any(self.failed)


def count_wrong_code(attempts: Sequence[int], max_attempts: int) -> WrongCode:
    """A wrong code counts against every order still waiting (given their counts so far), so
    guessing cannot find one; an order fails at ``max_attempts`` wrong codes."""
    after = tuple(a + 1 for a in attempts)
    failed = tuple(attempts_left(a, max_attempts) == 0 for a in after)
    left = min((attempts_left(a, max_attempts) for a in after), default=max_attempts)
    return WrongCode(after, failed, left)
