"""The refund decision (退费), as a pure function of the evidence: no database, no clock.

Seed 004 (三、退费服务) is the decision table. Front-line staff decide at once:

- 计费出错,多收、错收客户信息费 — a billing error → refund and an equal return (双倍返还);
- 各系统采集点的网络流量或计费信息不全或冲突的 — records incomplete or conflicting across
  collection points → refund and return;
- 无法提供客户主动使用SP业务的记录的 — no record of the subscriber's *active use* (an SMS they
  sent, an order or request made on the web; 退订指令、错误指令、帮助指令、客服指令 do not count)
  → refund and return;
- 逾期(超过3日)不能查证的 — not verified within 3 days → refund only, no return;
- 经查证不符合退费条件的 — verified legitimate → nothing due; 若客户坚持 the branch may still refund
  at its discretion, 但不双倍返还 (never doubled).

Seed 004 orders it 先确认、后退费 (confirm, then refund); seed 001 says 先退费、后查证 (refund first,
verify later) for Monternet disputes. Which applies is a policy per service category
(:class:`Policy`), chosen by the operator.

Each finding carries a code, like a card scheme's reason codes, so the agent, the SMS and the SP
all see the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from mingbai.clock import local_date


class Rule(StrEnum):
    """Why a charge is (or is not) refunded; the acceptance interface's ``rule``."""

    billing_error = "billing_error"
    records_conflict = "records_conflict"
    no_active_use = "no_active_use"
    unverified_3d = "unverified_3d"
    legitimate = "legitimate"
    discretionary = "discretionary"


#: rules that entitle the subscriber to the refund *and* an equal return (双倍返还)
DOUBLED = frozenset({Rule.billing_error, Rule.records_conflict, Rule.no_active_use})
#: which rule names a dispute of several charges: the one most in the subscriber's favour first
PRECEDENCE = (
    Rule.billing_error,
    Rule.records_conflict,
    Rule.no_active_use,
    Rule.unverified_3d,
    Rule.discretionary,
    Rule.legitimate,
)


class Policy(StrEnum):
    """先确认、后退费 (seed 004) or 先退费、后查证 (seed 001), per service category."""

    confirm_first = "confirm_first"
    refund_first = "refund_first"


class Outcome(StrEnum):
    """What the verification step found (``mingbai dispute decide --outcome``)."""

    verified_legitimate = "verified_legitimate"
    not_verifiable = "not_verifiable"


class Status(StrEnum):
    #: the evidence supports the charge; the SP is asked to prove it (72 h on the business clock)
    verifying = "verifying"
    #: final: refunded (or not) by rule
    decided = "decided"


#: seed 004: 逾期(超过3日)不能查证的, 只退费,不返还
VERIFY_WITHIN = timedelta(hours=72)
#: "at or shortly before the use" (R8): a request for a per-use charge counts this long before it
USE_REQUEST_WINDOW = timedelta(hours=1)
#: and this long after the recorded use (the collection point's clock may run a little behind)
USE_CLOCK_SKEW = timedelta(minutes=5)

#: what an MO was handled as (``mo_message.handled_as``) that is the subscriber's active use:
#: a keyword order or request to an SP's number, and the reply that confirmed an order. TD,
#: 0000, help, unknown keywords and objections (customer-service commands) are not (seed 004).
ACTIVE_USE_LABELS = frozenset({"sp_order", "sp_order_refused", "code_confirmed"})
#: the label of the MO that carried an order's confirmation code
CONFIRMING_LABEL = "code_confirmed"


def is_active_use(handled_as: str | None) -> bool:
    return handled_as in ACTIVE_USE_LABELS


# -- the evidence, as the rule sees it -----------------------------------------------------------


@dataclass(frozen=True)
class MoFact:
    id: int
    msisdn: str
    recipient: str
    text: str
    received_at: datetime
    handled_as: str | None


@dataclass(frozen=True)
class SubscriptionFact:
    id: int
    service_code: str
    status: str
    billing: str
    price_fen: int
    trial: bool
    first_charge_on: date | None
    confirmed_at: datetime
    unsubscribed_at: datetime | None
    order_id: int


@dataclass(frozen=True)
class OrderFact:
    id: int
    service_code: str
    status: str
    price_fen: int
    gifter: str | None


@dataclass(frozen=True)
class UsageFact:
    record_id: str
    service_code: str | None
    used_at: datetime
    quantity: int


@dataclass(frozen=True)
class ChargeFacts:
    """One charge and everything the platform holds about it (evidence.py gathers it)."""

    charge_id: int
    msisdn: str
    service_code: str
    #: monthly | per_use
    kind: str
    period: str
    #: the first instant of the Shanghai month the fee is for
    period_start: datetime
    amount_fen: int
    quantity: int
    occurred_at: datetime
    usage_ref: str
    subscription: SubscriptionFact | None
    order: OrderFact | None
    #: the subscriber's MO that carried the order's code (None: no such MO is on record)
    confirming_mo: MoFact | None
    #: collection-point records with this charge's usage reference (per-use)
    usage: Sequence[UsageFact] = ()
    #: the subscriber's active-use MOs to the SP's number around a per-use charge's time
    use_requests: Sequence[MoFact] = ()
    #: earlier charges of the same service and month (a monthly fee raised twice)
    earlier_same_period: Sequence[int] = ()


@dataclass(frozen=True)
class Finding:
    """One reason code with the words the agent and the SMS show."""

    code: str
    rule: Rule
    reason: str


@dataclass(frozen=True)
class Judgement:
    """The rule engine's verdict on one charge: the rule it entitles (None: the evidence
    supports the charge, so it must be verified), the findings, and the evidence it stood on."""

    rule: Rule | None
    findings: tuple[Finding, ...]
    #: what was checked and passed, so the agent sees why nothing was found too
    checked: tuple[str, ...] = field(default=())


def judge(f: ChargeFacts) -> Judgement:
    """Decide one charge from its evidence (seed 004's table, in its order)."""
    findings: list[Finding] = []
    checked: list[str] = []
    sub, order = f.subscription, f.order

    # 计费出错,多收、错收 — billing errors
    if sub is None or sub.service_code != f.service_code:
        findings.append(Finding("BE05", Rule.billing_error, "charged for a service never subscribed"))
    else:
        checked.append("subscription exists for this service")
        if f.kind == "monthly":
            if sub.first_charge_on is None or local_date(f.period_start) < _month_start(sub.first_charge_on):
                findings.append(Finding("BE01", Rule.billing_error, "monthly fee charged during the free trial"))
            else:
                checked.append("month after the free trial")
            if sub.unsubscribed_at is not None and sub.unsubscribed_at < f.period_start:
                findings.append(Finding("BE02", Rule.billing_error, "monthly fee for a month after unsubscription"))
            else:
                checked.append("subscription active at the month's start")
        elif sub.unsubscribed_at is not None and f.occurred_at >= sub.unsubscribed_at:
            findings.append(Finding("BE02", Rule.billing_error, "per-use fee for a use after unsubscription"))
        else:
            checked.append("use while subscribed")
        agreed = order.price_fen if order is not None else sub.price_fen
        expected = agreed * (f.quantity if f.kind == "per_use" else 1)
        if f.amount_fen != expected:
            findings.append(
                Finding("BE04", Rule.billing_error, f"charged {f.amount_fen} fen, the confirmed price gives {expected}")
            )
        else:
            checked.append(f"amount matches the confirmed price ({agreed} fen)")
    if f.earlier_same_period:
        findings.append(Finding("BE03", Rule.billing_error, "the same month's fee was charged twice"))
    elif f.kind == "monthly":
        checked.append("one fee for the month")

    # 采集点信息不全或冲突 — records incomplete or conflicting
    if sub is not None:
        if order is None:
            findings.append(Finding("RC03", Rule.records_conflict, "the subscription has no order on record"))
        elif order.service_code != sub.service_code or order.status != "confirmed":
            findings.append(
                Finding("RC03", Rule.records_conflict, "the order on record does not match the subscription")
            )
        else:
            checked.append("order confirmed and matching")
    if f.kind == "per_use":
        if not f.usage:
            findings.append(Finding("RC01", Rule.records_conflict, "per-use charge with no usage record"))
        elif any(
            u.service_code != f.service_code or u.quantity != f.quantity or u.used_at != f.occurred_at for u in f.usage
        ):
            findings.append(Finding("RC02", Rule.records_conflict, "the usage record disagrees with the charge"))
        else:
            checked.append("usage record agrees with the charge")

    # 主动使用记录 — the subscriber's active use
    if f.kind == "monthly":
        if f.confirming_mo is None or not _from_payer(f.confirming_mo, f.msisdn, order):
            findings.append(Finding("NU01", Rule.no_active_use, "no confirming SMS from the subscriber on record"))
        else:
            checked.append("the subscriber's own confirming SMS is on record")
    else:
        lo, hi = f.occurred_at - USE_REQUEST_WINDOW, f.occurred_at + USE_CLOCK_SKEW
        if not any(
            is_active_use(m.handled_as) and m.msisdn == f.msisdn and lo <= m.received_at <= hi for m in f.use_requests
        ):
            findings.append(Finding("NU02", Rule.no_active_use, "no request from the subscriber for this use"))
        else:
            checked.append("the subscriber's own request for the use is on record")

    for rule in (Rule.billing_error, Rule.records_conflict, Rule.no_active_use):
        if any(x.rule is rule for x in findings):
            return Judgement(rule, tuple(findings), tuple(checked))
    return Judgement(None, (), tuple(checked))


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _from_payer(mo: MoFact, msisdn: str, order: OrderFact | None) -> bool:
    """The charged number's own SMS, or for a gift, the giver's (who pays for it)."""
    return mo.handled_as == CONFIRMING_LABEL and (
        mo.msisdn == msisdn or (order is not None and mo.msisdn == order.gifter)
    )


# -- what is paid ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    """What one charge's dispute pays now: ``refund_fen`` ≤ the charge, ``return_fen`` 0 or equal."""

    rule: Rule | None
    status: Status
    refund_fen: int
    return_fen: int
    #: what the SP owes the operator for it (settlement): refund and return paid on its behalf
    sp_owes_fen: int


def on_open(judgement: Judgement, policy: Policy, amount_fen: int) -> Payment:
    """At the counter: entitled rules pay refund + return at once; otherwise the charge is
    verified, and a refund-first category refunds (plainly) meanwhile."""
    if judgement.rule is not None:
        return Payment(judgement.rule, Status.decided, amount_fen, amount_fen, 2 * amount_fen)
    if policy is Policy.refund_first:
        return Payment(None, Status.verifying, amount_fen, 0, 0)
    return Payment(None, Status.verifying, 0, 0, 0)


def on_verification(outcome: Outcome, amount_fen: int, refunded_fen: int) -> Payment:
    """The verification step (or the 72-hour deadline, as ``not_verifiable``).

    ``refunded_fen`` is what a refund-first category already paid: it is never taken back.
    Returns what is paid *now* (on top of what was paid at opening).
    """
    if outcome is Outcome.not_verifiable:
        # 只退费,不返还; the SP could not prove the charge, so it bears the refund
        return Payment(Rule.unverified_3d, Status.decided, amount_fen - refunded_fen, 0, amount_fen)
    return Payment(Rule.legitimate, Status.decided, 0, 0, 0)


def discretionary(amount_fen: int, refunded_fen: int) -> Payment:
    """若客户坚持, 酌情退还费用, 但不双倍返还: the operator's goodwill, not owed by the SP."""
    return Payment(Rule.discretionary, Status.decided, amount_fen - refunded_fen, 0, 0)


def overdue(opened_at: datetime, now: datetime) -> bool:
    """Past 72 hours unverified (seed 004: 逾期(超过3日)不能查证的)."""
    return now - opened_at >= VERIFY_WITHIN


def headline(rules: Sequence[Rule | None]) -> Rule | None:
    """The rule a dispute of several charges is shown with: the most favourable to the subscriber
    among its charges (each charge keeps its own); None while none is decided."""
    present = {r for r in rules if r is not None}
    return next((r for r in PRECEDENCE if r in present), None)


class CeilingExceeded(ValueError):
    pass


def check_ceiling(granted_this_month_fen: int, requested_fen: int, ceiling_fen: int) -> None:
    """A discretionary refund stays within the agent's monthly ceiling."""
    if requested_fen < 0 or granted_this_month_fen + requested_fen > ceiling_fen:
        raise CeilingExceeded(
            f"discretionary refunds this month would reach {granted_this_month_fen + requested_fen} fen, "
            f"above this agent's ceiling of {ceiling_fen} fen"
        )
