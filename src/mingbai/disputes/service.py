"""Disputes at the counter (R8): open one about charges, decide by rule from the evidence, pay
refund and return into the account, verify later, end unverified ones at 72 hours.

Functions run in the caller's unit of work and never commit. Every change to a subscriber's
disputes first locks the subscriber (``lock_subscriber``), so a double click, a replay and the
72-hour pass decide each dispute once; the ledger's references (``charge:<id>`` per kind) make
a refund or return of a charge exist once whatever happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import and_, case, func, select

from mingbai.audit import service as audit
from mingbai.catalog.models import Service, Sp
from mingbai.charging.ledger import CreditIn, credit_many
from mingbai.charging.models import Charge
from mingbai.clock import local_date, local_midnight, month_start
from mingbai.db import Ctx, insert_rows, table_of
from mingbai.disputes import rules, texts
from mingbai.disputes.evidence import gather, judgement_view
from mingbai.disputes.models import Dispute, DisputeItem, DisputePolicy
from mingbai.disputes.rules import Outcome, Policy, Rule, Status
from mingbai.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import enqueue
from mingbai.msisdn import mask_msisdn, normalize_msisdn
from mingbai.subscriptions.events import EventKind
from mingbai.subscriptions.service import lock_subscriber, record_event, unsubscribe

#: the acceptance interface's channels (the subscriber portal is ``web``)
CHANNELS = ("hotline", "hall", "web", "sms")
MAX_WORDS = 500
#: the category every service falls back to when its own has no policy
ANY_CATEGORY = "*"
SYSTEM_72H = "system:72h"


DisputeStatus = Literal["verifying", "decided"]


@dataclass(frozen=True)
class ItemView:
    charge_id: int
    subscription_id: int
    service_code: str
    sp_code: str
    category: str
    period: str
    amount_fen: int
    rule: str | None
    refund_fen: int
    return_fen: int
    sp_owes_fen: int
    #: the rule's findings, what it checked, and the evidence it stood on
    evidence: dict[str, Any]


@dataclass(frozen=True)
class DisputeView:
    id: int
    msisdn: str
    status: DisputeStatus
    rule: str | None
    refund_fen: int
    return_fen: int
    policy: str
    channel: str
    actor: str
    words: str | None
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    outcome: str | None
    discretionary: bool
    discretionary_reason: str | None
    kept_service: bool
    items: list[ItemView] = field(default_factory=list)
    #: the request had been made before: nothing new was posted
    replayed: bool = False
    #: each item's evidence, with its charge id (what the agent is shown beside the decision)
    evidence: list[dict[str, Any]] = field(default_factory=list)


def _view(d: Dispute, items: Sequence[DisputeItem], replayed: bool = False) -> DisputeView:
    shown = [
        ItemView(
            i.charge_id,
            i.subscription_id,
            i.service_code,
            i.sp_code,
            i.category,
            i.period,
            i.amount_fen,
            i.rule,
            i.refund_fen,
            i.return_fen,
            i.sp_owes_fen,
            i.findings,
        )
        for i in sorted(items, key=lambda i: i.charge_id)
    ]
    return DisputeView(
        d.id,
        d.msisdn,
        cast(DisputeStatus, d.status),
        d.rule,
        d.refund_fen,
        d.return_fen,
        d.policy,
        d.channel,
        d.actor,
        d.words,
        d.opened_at,
        d.due_at,
        d.decided_at,
        d.decided_by,
        d.outcome,
        d.discretionary,
        d.discretionary_reason,
        d.kept_service,
        shown,
        replayed,
        [{"charge_id": i.charge_id, **i.evidence} for i in shown],
    )


def _items_of(ctx: Ctx, d: Dispute) -> list[DisputeItem]:
    return list(
        ctx.session.scalars(select(DisputeItem).where(DisputeItem.msisdn == d.msisdn, DisputeItem.dispute_id == d.id))
    )


# -- policy per category -------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyView:
    category: str
    policy: str
    set_at: datetime
    actor: str
    reason: str | None


def set_policy(ctx: Ctx, *, category: str, policy: str, actor: str, reason: str | None = None) -> PolicyView:
    """Choose 先确认后退费 or 先退费后查证 for a service category (or ``*``): a new row, so the
    history of who chose what and when stays."""
    from mingbai.catalog.rules import SERVICE_TYPE_ZH

    if category != ANY_CATEGORY and category not in SERVICE_TYPE_ZH:
        raise InvalidInput(
            f"category must be {ANY_CATEGORY} or one of {', '.join(SERVICE_TYPE_ZH)}", code="bad_category"
        )
    try:
        chosen = Policy(policy)
    except ValueError:
        raise InvalidInput(f"policy must be one of {', '.join(Policy)}", code="bad_policy") from None
    row = DisputePolicy(
        id=new_id(), category=category, policy=chosen.value, set_at=ctx.now(), actor=actor, reason=reason
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record_staff(
        ctx,
        actor=actor,
        action="config.dispute_policy",
        subject=f"category:{category}",
        detail={"policy": chosen.value, "reason": reason or ""},
    )
    return PolicyView(row.category, row.policy, row.set_at, row.actor, row.reason)


def policy_history(ctx: Ctx, *, category: str | None = None) -> list[PolicyView]:
    stmt = select(DisputePolicy).order_by(DisputePolicy.set_at, DisputePolicy.id)
    if category is not None:
        stmt = stmt.where(DisputePolicy.category == category)
    return [PolicyView(p.category, p.policy, p.set_at, p.actor, p.reason) for p in ctx.session.scalars(stmt)]


def policies(ctx: Ctx, categories: Sequence[str]) -> dict[str, Policy]:
    """The policy in force for each category: its newest row, else ``*``'s, else seed 004's
    先确认、后退费."""
    wanted = sorted({*categories, ANY_CATEGORY})
    newest: dict[str, tuple[datetime, int, str]] = {}
    for cat, at, pid, pol in ctx.session.execute(
        select(DisputePolicy.category, DisputePolicy.set_at, DisputePolicy.id, DisputePolicy.policy).where(
            DisputePolicy.category.in_(wanted)
        )
    ):
        if cat not in newest or (at, pid) > newest[cat][:2]:
            newest[cat] = (at, pid, pol)
    fallback = Policy(newest[ANY_CATEGORY][2]) if ANY_CATEGORY in newest else Policy.confirm_first
    return {c: Policy(newest[c][2]) if c in newest else fallback for c in categories}


# -- opening: the decision at the counter --------------------------------------------------------


def _what(ctx: Ctx, service_codes: Sequence[str]) -> str:
    names = [
        f"{sp}{svc}业务"
        for sp, svc in ctx.session.execute(
            select(Sp.name, Service.name)
            .join(Service, Service.sp_code == Sp.code)
            .where(Service.code.in_(sorted(set(service_codes))))
            .order_by(Service.code)
        )
    ]
    return "、".join(names) or "业务"


def open_dispute(
    ctx: Ctx,
    *,
    msisdn: str,
    channel: str,
    actor: str,
    charge_ids: Sequence[int] | None = None,
    subscription_id: int | None = None,
    words: str | None = None,
    mo_id: int | None = None,
    request_ref: str | None = None,
    keep_service: bool = False,
) -> DisputeView:
    """The subscriber disputes one charge, several, or every charge of a subscription since its
    order. The rule engine decides each charge at once from the evidence; entitled charges are
    refunded with an equal return into the account, others are verified (a refund-first category
    refunds them meanwhile). The subscription stops unless the subscriber keeps it; an SMS says
    the amounts and the rule. Asking again about the same charges posts nothing new."""
    msisdn = normalize_msisdn(msisdn)
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", code="bad_channel")
    if words is not None and len(words) > MAX_WORDS:
        raise InvalidInput(f"words must be at most {MAX_WORDS} characters", code="bad_words")
    if request_ref is not None and not 1 <= len(request_ref) <= 64:
        raise InvalidInput("request reference must be 1–64 characters", code="bad_ref")
    if (charge_ids is None or not charge_ids) == (subscription_id is None):
        raise InvalidInput("name charges or one subscription", code="bad_target")
    lock_subscriber(ctx, msisdn)
    session = ctx.session
    if request_ref is not None:
        done = session.scalars(
            select(Dispute).where(Dispute.msisdn == msisdn, Dispute.request_ref == request_ref)
        ).first()
        if done is not None:
            return _view(done, _items_of(ctx, done), replayed=True)
    stmt = select(Charge).where(Charge.msisdn == msisdn)
    if subscription_id is not None:
        stmt = stmt.where(Charge.subscription_id == subscription_id)
    else:
        stmt = stmt.where(Charge.id.in_(sorted(set(charge_ids or ()))))
    # each charge with the dispute it is already in, if any (one statement)
    found = session.execute(
        stmt.add_columns(DisputeItem.dispute_id)
        .outerjoin(DisputeItem, and_(DisputeItem.msisdn == Charge.msisdn, DisputeItem.charge_id == Charge.id))
        .order_by(Charge.occurred_at, Charge.id)
    ).all()
    charges = [c for c, _ in found]
    if subscription_id is None and len(charges) != len(set(charge_ids or ())):
        missing = sorted(set(charge_ids or ()) - {c.id for c in charges})
        raise NotFound(f"no charge {missing[0]} for this subscriber", code="unknown_charge")
    if not charges:
        raise NotFound("this subscription has no charges to dispute", code="no_charges")
    taken = {c.id: d for c, d in found if d is not None}
    fresh = [c for c in charges if c.id not in taken]
    if not fresh:
        # a double click, or the same charges from another channel: the dispute they are in
        first = session.get(Dispute, (msisdn, taken[charges[0].id]))
        assert first is not None
        return _view(first, _items_of(ctx, first), replayed=True)
    gathered = gather(ctx, msisdn, fresh)
    categories = {c.id: gathered.services.get(c.service_code, ("other", None))[0] for c in fresh}
    in_force = policies(ctx, sorted(set(categories.values())))
    now = ctx.now()
    dispute_id = new_id()
    items: list[dict[str, Any]] = []
    payments: list[tuple[Any, rules.Payment]] = []
    for c in fresh:
        facts = gathered.facts[c.id]
        judgement = rules.judge(facts)
        pay = rules.on_open(judgement, in_force[categories[c.id]], c.amount_fen)
        payments.append((c, pay))
        items.append(
            {
                "msisdn": msisdn,
                "id": new_id(),
                "dispute_id": dispute_id,
                "charge_id": c.id,
                "subscription_id": c.subscription_id,
                "service_code": c.service_code,
                "sp_code": c.sp_code,
                "category": categories[c.id],
                "period": c.period,
                "amount_fen": c.amount_fen,
                "rule": None if pay.rule is None else pay.rule.value,
                "findings": {**judgement_view(judgement), "used": _used(facts)},
                "refund_fen": pay.refund_fen,
                "return_fen": pay.return_fen,
                "sp_owes_fen": pay.sp_owes_fen,
                "decided_at": now if pay.status is Status.decided else None,
            }
        )
    verifying = any(p.status is Status.verifying for _, p in payments)
    # a policy per dispute for the record: refund-first if any of its categories is
    policy = (
        Policy.refund_first
        if any(in_force[categories[c.id]] is Policy.refund_first for c in fresh)
        else Policy.confirm_first
    )
    head = rules.headline([p.rule for _, p in payments])
    dispute = Dispute(
        msisdn=msisdn,
        id=dispute_id,
        opened_at=now,
        channel=channel,
        actor=actor,
        words=words,
        mo_id=mo_id,
        request_ref=request_ref,
        subscription_id=subscription_id if subscription_id is not None else fresh[0].subscription_id,
        policy=policy.value,
        status=(Status.verifying if verifying else Status.decided).value,
        rule=None if verifying else (head.value if head else None),
        refund_fen=sum(p.refund_fen for _, p in payments),
        return_fen=sum(p.return_fen for _, p in payments),
        due_at=now + rules.VERIFY_WITHIN,
        decided_at=None if verifying else now,
        decided_by=None if verifying else actor,
        outcome=None,
        discretionary=False,
        discretionary_reason=None,
        kept_service=keep_service,
    )
    session.add(dispute)
    session.flush()
    insert_rows(ctx.conn, table_of(DisputeItem), items)
    _pay(ctx, msisdn, [(c.id, pay.refund_fen, pay.return_fen) for c, pay in payments], channel, actor, dispute_id)
    subs = sorted({c.subscription_id for c in fresh})
    if not keep_service:
        unsubscribe(ctx, msisdn=msisdn, channel=channel, actor=actor, subscription_ids=subs, mo_id=mo_id)
    for c in {c.subscription_id: c for c in fresh}.values():
        record_event(
            ctx,
            msisdn=msisdn,
            kind=EventKind.DISPUTE_OPENED,
            service_code=c.service_code,
            actor=actor,
            channel=channel,
            subscription_id=c.subscription_id,
            detail={
                "dispute_id": dispute_id,
                "charges": [x.id for x in fresh if x.subscription_id == c.subscription_id],
                "rule": dispute.rule,
                "status": dispute.status,
            },
        )
    what = "、".join(dict.fromkeys(gathered.names.get(c.service_code, c.service_code) for c in fresh))
    text = (
        texts.verifying(what, dispute.refund_fen)
        if verifying and not dispute.return_fen
        else texts.decided(what, dispute.rule or "", dispute.refund_fen, dispute.return_fen)
    )
    enqueue(
        ctx, msisdn=msisdn, kind=MessageKind.DISPUTE, text=text, dedupe_key=f"dispute:{dispute_id}:open", mo_id=mo_id
    )
    # a dispute opened (and refunds paid) by staff for a caller, on the staff member's record
    audit.record_staff(
        ctx,
        actor=actor,
        action="dispute.open",
        subject_msisdn=msisdn,
        detail={
            "dispute": dispute_id,
            "rule": dispute.rule or "",
            "refund_fen": dispute.refund_fen,
            "return_fen": dispute.return_fen,
        },
    )
    return _view(dispute, [DisputeItem(**row) for row in items])


def _used(f: rules.ChargeFacts) -> dict[str, Any]:
    """The evidence a decision stood on, kept with it (the agent and the SP see the same)."""
    mo = f.confirming_mo
    return {
        "subscription_id": None if f.subscription is None else f.subscription.id,
        "order_id": None if f.order is None else f.order.id,
        "confirming_mo": None
        if mo is None
        else {"id": mo.id, "msisdn": mo.msisdn, "text": mo.text, "received_at": mo.received_at.isoformat()},
        "usage_records": [u.record_id for u in f.usage],
        "use_requests": [m.id for m in f.use_requests],
        "earlier_same_period": list(f.earlier_same_period),
    }


def _pay(
    ctx: Ctx, msisdn: str, pays: Sequence[tuple[int, int, int]], channel: str, actor: str, dispute_id: int
) -> None:
    """Credit the account (首选账户充值的退费方式) with each charge's (id, refund, return): one
    refund and one return per charge, ever (reference ``charge:<id>``), all in one go."""
    note = f"争议{dispute_id}"
    credits = [
        CreditIn(kind, fen, f"charge:{charge_id}", note)
        for charge_id, refund_fen, return_fen in pays
        for kind, fen in (("refund", refund_fen), ("return", return_fen))
        if fen > 0
    ]
    credit_many(ctx, msisdn=msisdn, channel=channel, actor=actor, credits=credits)


# -- the verification step -----------------------------------------------------------------------


def get_dispute(ctx: Ctx, dispute_id: int, *, msisdn: str | None = None) -> DisputeView:
    d = _find(ctx, dispute_id, msisdn)
    return _view(d, _items_of(ctx, d))


def _find(ctx: Ctx, dispute_id: int, msisdn: str | None) -> Dispute:
    stmt = select(Dispute).where(Dispute.id == dispute_id)
    if msisdn is not None:
        stmt = stmt.where(Dispute.msisdn == normalize_msisdn(msisdn))
    d = ctx.session.scalars(stmt).first()
    if d is None:
        raise NotFound(f"no dispute {dispute_id}", code="unknown_dispute")
    return d


def decide_dispute(
    ctx: Ctx,
    *,
    dispute_id: int,
    outcome: str,
    actor: str,
    discretionary_refund: bool = False,
    reason: str | None = None,
    msisdn: str | None = None,
) -> DisputeView:
    """What verification found: ``verified_legitimate`` (nothing due; the agent may grant a plain
    discretionary refund, flagged with a reason, within the agent's monthly ceiling) or
    ``not_verifiable`` (refund only). A refund already paid (refund first) is never taken back.
    Deciding the same way again posts nothing."""
    try:
        found = Outcome(outcome)
    except ValueError:
        raise InvalidInput(f"outcome must be one of {', '.join(Outcome)}", code="bad_outcome") from None
    if discretionary_refund and found is not Outcome.verified_legitimate:
        raise InvalidInput("a discretionary refund follows a verified legitimate charge only", code="bad_discretion")
    if discretionary_refund and not (reason and reason.strip()):
        raise InvalidInput("a discretionary refund needs a reason", code="reason_required")
    d = _find(ctx, dispute_id, msisdn)
    lock_subscriber(ctx, d.msisdn)
    ctx.session.refresh(d)
    items = _items_of(ctx, d)
    if d.status == Status.decided:
        wants_more = discretionary_refund and d.rule == Rule.legitimate and not d.discretionary
        if wants_more:
            granted = _grant_discretionary(ctx, d, items, actor, reason or "")
            audit.record_staff(
                ctx,
                actor=actor,
                action="dispute.discretionary_refund",
                subject_msisdn=d.msisdn,
                detail={"dispute": d.id, "reason": reason or ""},
            )
            return granted
        if d.outcome == found.value and (d.discretionary or not discretionary_refund):
            return _view(d, items, replayed=True)
        raise Conflict(f"dispute {d.id} was already decided ({d.rule})", code="already_decided")
    view = _verify(ctx, d, items, found, actor, discretionary_refund, reason)
    audit.record_staff(
        ctx,
        actor=actor,
        action="dispute.decide",
        subject_msisdn=d.msisdn,
        detail={"dispute": d.id, "outcome": found.value, "discretionary": discretionary_refund, "reason": reason or ""},
    )
    return view


def _verify(
    ctx: Ctx,
    d: Dispute,
    items: list[DisputeItem],
    found: Outcome,
    actor: str,
    discretionary_refund: bool,
    reason: str | None,
) -> DisputeView:
    now = ctx.now()
    # decided at opening by rule (refund + return): stays as it was
    due = [(i, rules.on_verification(found, i.amount_fen, i.refund_fen)) for i in items if i.decided_at is None]
    _pay(ctx, d.msisdn, [(i.charge_id, pay.refund_fen, 0) for i, pay in due], d.channel, actor, d.id)
    for i, pay in due:
        i.rule = None if pay.rule is None else pay.rule.value
        i.refund_fen += pay.refund_fen
        i.sp_owes_fen = pay.sp_owes_fen
        i.decided_at = now
    d.status = Status.decided.value
    d.outcome = found.value
    d.decided_at = now
    d.decided_by = actor
    _totals(d, items)
    ctx.session.flush()
    if discretionary_refund:
        return _grant_discretionary(ctx, d, items, actor, reason or "")
    _decided_sms(ctx, d, items)
    _event(ctx, d, items, actor, EventKind.DISPUTE_DECIDED)
    return _view(d, items)


def _totals(d: Dispute, items: Sequence[DisputeItem]) -> None:
    d.refund_fen = sum(i.refund_fen for i in items)
    d.return_fen = sum(i.return_fen for i in items)
    d.rule = (rules.headline([Rule(i.rule) if i.rule else None for i in items]) or Rule.legitimate).value


def discretionary_granted(ctx: Ctx, *, actor: str, at: datetime) -> int:
    """Fen of discretionary refunds this agent granted in ``at``'s Shanghai month."""
    start = local_midnight(month_start(local_date(at)))
    total = ctx.session.scalar(
        select(func.coalesce(func.sum(Dispute.refund_fen), 0)).where(
            Dispute.discretionary.is_(True), Dispute.decided_by == actor, Dispute.decided_at >= start
        )
    )
    return int(total or 0)


def _grant_discretionary(ctx: Ctx, d: Dispute, items: list[DisputeItem], actor: str, reason: str) -> DisputeView:
    now = ctx.now()
    due = [(i, rules.discretionary(i.amount_fen, i.refund_fen)) for i in items if i.rule == Rule.legitimate]
    amount = sum(p.refund_fen for _, p in due)
    try:
        rules.check_ceiling(
            discretionary_granted(ctx, actor=actor, at=now), amount, ctx.settings.discretionary_ceiling_fen
        )
    except rules.CeilingExceeded as exc:
        raise Forbidden(str(exc), code="over_ceiling") from None
    _pay(ctx, d.msisdn, [(i.charge_id, pay.refund_fen, 0) for i, pay in due], d.channel, actor, d.id)
    for i, pay in due:
        i.rule = Rule.discretionary.value
        i.refund_fen += pay.refund_fen
        i.decided_at = now
    d.discretionary = True
    d.discretionary_reason = reason.strip()[:200]
    d.decided_by = actor
    d.decided_at = now
    _totals(d, items)
    ctx.session.flush()
    _decided_sms(ctx, d, items)
    _event(ctx, d, items, actor, EventKind.DISPUTE_DISCRETIONARY)
    return _view(d, items)


def _decided_sms(ctx: Ctx, d: Dispute, items: Sequence[DisputeItem]) -> None:
    what = _what(ctx, [i.service_code for i in items])
    if d.rule == Rule.legitimate and d.policy == Policy.refund_first and d.refund_fen:
        text = texts.verified_after_refund(what)
    else:
        text = texts.decided(what, d.rule or "", d.refund_fen, d.return_fen)
    enqueue(ctx, msisdn=d.msisdn, kind=MessageKind.DISPUTE, text=text, dedupe_key=f"dispute:{d.id}:{d.rule}")


def _event(ctx: Ctx, d: Dispute, items: Sequence[DisputeItem], actor: str, kind: str) -> None:
    for i in {i.subscription_id: i for i in items}.values():
        record_event(
            ctx,
            msisdn=d.msisdn,
            kind=kind,
            service_code=i.service_code,
            actor=actor,
            channel="system" if actor == SYSTEM_72H else d.channel,
            subscription_id=i.subscription_id,
            detail={
                "dispute_id": d.id,
                "rule": d.rule,
                "outcome": d.outcome,
                "refund_fen": d.refund_fen,
                "return_fen": d.return_fen,
            },
        )


def expire_overdue(ctx: Ctx, *, limit: int = 500) -> int:
    """Disputes still unverified 72 hours after opening end as ``unverified_3d``: refund only,
    no return (seed 004). Idempotent; run by the scheduler."""
    due = ctx.session.execute(
        select(Dispute.msisdn, Dispute.id)
        .where(Dispute.status == Status.verifying.value, Dispute.due_at <= ctx.now())
        .order_by(Dispute.due_at)
        .limit(limit)
    ).all()
    for msisdn, dispute_id in due:
        decide_dispute(ctx, dispute_id=dispute_id, msisdn=msisdn, outcome=Outcome.not_verifiable, actor=SYSTEM_72H)
    return len(due)


# -- reads ---------------------------------------------------------------------------------------


def list_disputes(
    ctx: Ctx, *, msisdn: str | None = None, status: str | None = None, limit: int = 200
) -> list[DisputeView]:
    stmt = select(Dispute).order_by(Dispute.opened_at.desc(), Dispute.id.desc()).limit(limit)
    if msisdn is not None:
        stmt = stmt.where(Dispute.msisdn == normalize_msisdn(msisdn))
    if status is not None:
        stmt = stmt.where(Dispute.status == status)
    disputes = list(ctx.session.scalars(stmt))
    if not disputes:
        return []
    by: dict[tuple[str, int], list[DisputeItem]] = {}
    for i in ctx.session.scalars(
        select(DisputeItem).where(
            DisputeItem.msisdn.in_(sorted({d.msisdn for d in disputes})),
            DisputeItem.dispute_id.in_([d.id for d in disputes]),
        )
    ):
        by.setdefault((i.msisdn, i.dispute_id), []).append(i)
    return [_view(d, by.get((d.msisdn, d.id), [])) for d in disputes]


@dataclass(frozen=True)
class SpRefund:
    """What an SP sees of refunds made on its behalf: the number masked."""

    dispute_id: int
    msisdn: str
    charge_id: int
    service_code: str
    period: str
    amount_fen: int
    rule: str | None
    refund_fen: int
    return_fen: int
    sp_owes_fen: int
    decided_at: datetime | None


def sp_refunds(ctx: Ctx, *, sp_code: str, limit: int = 500) -> list[SpRefund]:
    rows = ctx.session.scalars(
        select(DisputeItem)
        .where(DisputeItem.sp_code == sp_code, DisputeItem.decided_at.is_not(None))
        .order_by(DisputeItem.decided_at.desc(), DisputeItem.id.desc())
        .limit(limit)
    )
    return [
        SpRefund(
            i.dispute_id,
            mask_msisdn(i.msisdn),
            i.charge_id,
            i.service_code,
            i.period,
            i.amount_fen,
            i.rule,
            i.refund_fen,
            i.return_fen,
            i.sp_owes_fen,
            i.decided_at,
        )
        for i in rows
    ]


@dataclass(frozen=True)
class AgentTotal:
    actor: str
    disputes: int
    refund_fen: int
    return_fen: int
    discretionary_count: int
    discretionary_fen: int


def agent_totals(ctx: Ctx, *, since: datetime | None = None) -> list[AgentTotal]:
    """Supervisors: per agent, what their decisions paid, discretionary refunds apart."""
    discretionary = Dispute.discretionary.is_(True)
    stmt = (
        select(
            Dispute.decided_by,
            func.count(),
            func.coalesce(func.sum(Dispute.refund_fen), 0),
            func.coalesce(func.sum(Dispute.return_fen), 0),
            func.coalesce(func.sum(case((discretionary, 1), else_=0)), 0),
            func.coalesce(func.sum(case((discretionary, Dispute.refund_fen), else_=0)), 0),
        )
        .where(Dispute.status == Status.decided.value, Dispute.decided_by.is_not(None))
        .group_by(Dispute.decided_by)
        .order_by(Dispute.decided_by)
    )
    if since is not None:
        stmt = stmt.where(Dispute.decided_at >= since)
    return [
        AgentTotal(actor, int(n), int(refund), int(ret), int(ndisc), int(fdisc))
        for actor, n, refund, ret, ndisc, fdisc in ctx.session.execute(stmt)
    ]
