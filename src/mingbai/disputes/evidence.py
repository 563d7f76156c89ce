"""The consent evidence behind a charge, read in a fixed number of statements per subscriber.

For a charge: the charge; its subscription; the order (channel, actor, gifter); the confirmation
request as it was sent (text, time, delivery receipt); the subscriber's MO that carried the code;
the reminders sent; every event since the order; and the subscriber's *active use* of the service
(R8: MOs that ordered or requested content — TD, 0000, help, unknown commands and objections do
not count, seed 004).

The links are rows, not guesses by time: ``sub_order.confirm_mo_id`` is the MO that confirmed an
order; ``subscription.order_id`` its order; the confirmation request and the order reminder are
the outbox rows with the send-once keys ``confirm:<order>`` and ``ordered:<subscription>`` (unique
per subscriber, so each names exactly one MT); a deduction reminder's outbox id is its charge's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, tuple_

from mingbai.catalog.models import Service, Sp
from mingbai.charging.models import Charge, UsageRecord
from mingbai.charging.rules import parse_billing_period
from mingbai.db import Ctx
from mingbai.disputes import rules
from mingbai.disputes.rules import ChargeFacts, MoFact, OrderFact, SubscriptionFact, UsageFact
from mingbai.errors import NotFound
from mingbai.messaging.models import MoMessage, OutboundSms, SmsPart
from mingbai.msisdn import normalize_msisdn
from mingbai.sealing import REDACTED, is_sealed
from mingbai.subscriptions.models import Order, Subscription, SubscriptionEvent


def _mo_fact(m: Any) -> MoFact:
    return MoFact(m.id, m.msisdn, m.recipient, m.text, m.received_at, m.handled_as)


@dataclass(frozen=True)
class Gathered:
    """What :func:`gather` read for a set of charges of one subscriber."""

    facts: dict[int, ChargeFacts]
    charges: dict[int, Any]
    subscriptions: dict[int, Any]
    orders: dict[int, Any]
    #: service code → (category, sp access number)
    services: dict[str, tuple[str, str | None]]
    #: service code → "新浪头条新闻业务", as the SMS names it
    names: dict[str, str]


def gather(ctx: Ctx, msisdn: str, charges: Sequence[Any]) -> Gathered:
    """The rule's evidence for each charge (a :class:`Charge` row each), in a few statements:
    subscriptions with their orders and confirming MOs (a gift's giver's MOs apart), services,
    usage records and requests (per-use charges only), the same period's fees (monthly only)."""
    session = ctx.session
    sub_ids = sorted({c.subscription_id for c in charges})
    subs: dict[int, Any] = {}
    orders: dict[int, Any] = {}
    # order id → the MO that carried its code (``sub_order.confirm_mo_id``; for a gift it may be
    # the giver's, so the MO is the order's subscriber's or its gifter's)
    confirming: dict[int, MoFact] = {}
    for s_row, o_row, mo in session.execute(
        select(Subscription, Order, MoMessage)
        .outerjoin(Order, and_(Order.msisdn == Subscription.msisdn, Order.id == Subscription.order_id))
        .outerjoin(MoMessage, and_(MoMessage.msisdn == Order.msisdn, MoMessage.id == Order.confirm_mo_id))
        .where(Subscription.msisdn == msisdn, Subscription.id.in_(sub_ids))
    ):
        subs[s_row.id] = s_row
        if o_row is not None:
            orders[o_row.id] = o_row
            if mo is not None:
                confirming[o_row.id] = _mo_fact(mo)
    # a gift's code may have come from its giver: those MOs in a statement of their own (on Citus
    # another subscriber's rows cannot be joined in)
    gifts = {o.confirm_mo_id: o.id for o in orders.values() if o.gifter and o.confirm_mo_id and o.id not in confirming}
    if gifts:
        givers = sorted({o.gifter for o in orders.values() if o.gifter})
        for m in session.scalars(
            select(MoMessage).where(MoMessage.msisdn.in_(givers), MoMessage.id.in_(sorted(gifts)))
        ):
            confirming[gifts[m.id]] = _mo_fact(m)
    codes = sorted({c.service_code for c in charges})
    services: dict[str, tuple[str, str | None]] = {}
    names: dict[str, str] = {}
    for code, type_, access, sp_name, name in session.execute(
        select(Service.code, Service.type, Sp.access_number, Sp.name, Service.name)
        .join(Sp, Sp.code == Service.sp_code)
        .where(Service.code.in_(codes))
    ):
        services[code] = (type_, access)
        names[code] = f"{sp_name}{name}业务"
    refs = sorted({c.usage_ref for c in charges if c.kind == "per_use" and c.usage_ref})
    usage: dict[str, list[UsageFact]] = {}
    if refs:
        for u in session.scalars(
            select(UsageRecord).where(UsageRecord.msisdn == msisdn, UsageRecord.record_id.in_(refs))
        ):
            usage.setdefault(u.record_id, []).append(UsageFact(u.record_id, u.service_code, u.used_at, u.quantity))
    requests = _use_requests(ctx, msisdn, [c for c in charges if c.kind == "per_use"], services)
    monthly = [c for c in charges if c.kind == "monthly"]
    same_period: dict[tuple[str, str], list[tuple[datetime, int]]] = {}
    if monthly:
        for code, period, created, cid in session.execute(
            select(Charge.service_code, Charge.period, Charge.created_at, Charge.id).where(
                Charge.msisdn == msisdn,
                Charge.kind == "monthly",
                Charge.service_code.in_(sorted({c.service_code for c in monthly})),
                Charge.period.in_(sorted({c.period for c in monthly})),
            )
        ):
            same_period.setdefault((code, period), []).append((created, cid))
    facts: dict[int, ChargeFacts] = {}
    for c in charges:
        sub = subs.get(c.subscription_id)
        order = orders.get(sub.order_id) if sub is not None else None
        earlier = [
            cid
            for created, cid in same_period.get((c.service_code, c.period), [])
            if c.kind == "monthly" and (created, cid) < (c.created_at, c.id)
        ]
        facts[c.id] = ChargeFacts(
            charge_id=c.id,
            msisdn=msisdn,
            service_code=c.service_code,
            kind=c.kind,
            period=c.period,
            period_start=parse_billing_period(c.period).start,
            amount_fen=c.amount_fen,
            quantity=c.quantity,
            occurred_at=c.occurred_at,
            usage_ref=c.usage_ref,
            subscription=None if sub is None else _sub_fact(sub),
            order=None
            if order is None
            else OrderFact(order.id, order.service_code, order.status, order.price_fen, order.gifter),
            confirming_mo=confirming.get(order.id) if order is not None else None,
            usage=tuple(usage.get(c.usage_ref, ())),
            use_requests=tuple(requests.get(c.service_code, ())),
            earlier_same_period=tuple(earlier),
        )
    return Gathered(facts, {c.id: c for c in charges}, subs, orders, services, names)


def _sub_fact(s: Any) -> SubscriptionFact:
    return SubscriptionFact(
        s.id,
        s.service_code,
        s.status,
        s.billing,
        s.price_fen,
        s.trial,
        s.first_charge_on,
        s.confirmed_at,
        s.unsubscribed_at,
        s.order_id,
    )


def _use_requests(
    ctx: Ctx, msisdn: str, per_use: Sequence[Any], services: dict[str, tuple[str, str | None]]
) -> dict[str, list[MoFact]]:
    """Service code → the subscriber's active-use MOs to its SP's number around the charges."""
    if not per_use:
        return {}
    lo = min(c.occurred_at for c in per_use) - rules.USE_REQUEST_WINDOW
    hi = max(c.occurred_at for c in per_use) + rules.USE_CLOCK_SKEW
    numbers = {
        services[c.service_code][1]: c.service_code for c in per_use if services.get(c.service_code, ("", None))[1]
    }
    if not numbers:
        return {}
    out: dict[str, list[MoFact]] = {}
    for m in ctx.session.scalars(
        select(MoMessage).where(
            MoMessage.msisdn == msisdn,
            MoMessage.received_at >= lo,
            MoMessage.received_at <= hi,
            MoMessage.recipient.in_(sorted(n for n in numbers if n)),
            MoMessage.handled_as.in_(sorted(rules.ACTIVE_USE_LABELS)),
        )
    ):
        out.setdefault(numbers[m.recipient], []).append(_mo_fact(m))
    return out


# -- the chain, as the agent and the auditor read it ---------------------------------------------


@dataclass(frozen=True)
class MtView:
    id: int
    kind: str
    text: str
    created_at: datetime
    sent_at: datetime | None
    #: queued | submitting | delivered | undeliverable | …: the receipt state where known
    status: str
    parts: list[dict[str, Any]]


@dataclass(frozen=True)
class MoView:
    id: int
    msisdn: str
    recipient: str
    text: str
    received_at: datetime
    handled_as: str | None


@dataclass(frozen=True)
class EventItem:
    id: int
    at: datetime
    kind: str
    actor: str
    channel: str
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class Chain:
    """The whole chain for a charge (or a subscription): ``mingbai evidence --json``."""

    msisdn: str
    charge: dict[str, Any] | None
    charges: list[dict[str, Any]]
    subscription: dict[str, Any]
    order: dict[str, Any] | None
    confirmation_request: MtView | None
    confirming_mo: MoView | None
    reminders: list[MtView]
    events: list[EventItem]
    active_use: list[MoView]
    #: the rule engine's reading of the evidence, per charge
    judgements: dict[str, dict[str, Any]]


def _row(obj: Any, *names: str) -> dict[str, Any]:
    return {n: getattr(obj, n) for n in names}


CHARGE_FIELDS = (
    "id",
    "service_code",
    "sp_code",
    "kind",
    "period",
    "usage_ref",
    "amount_fen",
    "quantity",
    "created_at",
    "occurred_at",
)
SUB_FIELDS = (
    "id",
    "service_code",
    "sp_code",
    "order_id",
    "channel",
    "gifter",
    "status",
    "billing",
    "price_fen",
    "trial",
    "first_charge_on",
    "ordered_at",
    "confirmed_at",
    "unsubscribed_at",
    "unsubscribe_channel",
)
ORDER_FIELDS = (
    "id",
    "service_code",
    "sp_code",
    "channel",
    "actor",
    "gifter",
    "status",
    "price_fen",
    "created_at",
    "decided_at",
    "mo_id",
    "confirm_mo_id",
    "external_ref",
)


def judgement_view(j: rules.Judgement) -> dict[str, Any]:
    return {
        "rule": None if j.rule is None else j.rule.value,
        "findings": [{"code": f.code, "rule": f.rule.value, "reason": f.reason} for f in j.findings],
        "checked": list(j.checked),
    }


def chain(ctx: Ctx, *, msisdn: str, charge_id: int | None = None, subscription_id: int | None = None) -> Chain:
    """The evidence chain for one charge, or for a subscription and every charge of it."""
    msisdn = normalize_msisdn(msisdn)
    session = ctx.session
    charge = None
    if charge_id is not None:
        charge = session.get(Charge, (msisdn, charge_id))
        if charge is None:
            raise NotFound(f"no charge {charge_id} for this subscriber", code="unknown_charge")
        subscription_id = charge.subscription_id
    if subscription_id is None:
        raise NotFound("name a charge or a subscription", code="nothing_named")
    sub = session.get(Subscription, (msisdn, subscription_id))
    if sub is None:
        raise NotFound(f"no subscription {subscription_id} for this subscriber", code="unknown_subscription")
    charges = (
        [charge]
        if charge is not None
        else list(
            session.scalars(
                select(Charge)
                .where(Charge.msisdn == msisdn, Charge.subscription_id == subscription_id)
                .order_by(Charge.occurred_at, Charge.id)
            )
        )
    )
    gathered = gather(ctx, msisdn, charges) if charges else None
    order = session.get(Order, (msisdn, sub.order_id))
    mts = _mts(ctx, msisdn, sub, [c.id for c in charges])
    confirmation = mts.pop(f"confirm:{sub.order_id}", None)
    reminders = sorted(mts.values(), key=lambda m: (m.created_at, m.id))
    confirming = None
    if gathered is not None and order is not None:
        fact = next((f.confirming_mo for f in gathered.facts.values() if f.confirming_mo is not None), None)
        confirming = None if fact is None else MoView(**fact.__dict__)
    elif order is not None and order.confirm_mo_id is not None:
        m = session.get(MoMessage, (msisdn, order.confirm_mo_id))
        confirming = None if m is None else MoView(m.id, m.msisdn, m.recipient, m.text, m.received_at, m.handled_as)
    since = order.created_at if order is not None else sub.ordered_at
    events = [
        EventItem(e.id, e.at, e.kind, e.actor, e.channel, e.detail)
        for e in session.scalars(
            select(SubscriptionEvent)
            .where(
                SubscriptionEvent.msisdn == msisdn,
                SubscriptionEvent.at >= since,
                or_(SubscriptionEvent.subscription_id == sub.id, SubscriptionEvent.order_id == sub.order_id),
            )
            .order_by(SubscriptionEvent.at, SubscriptionEvent.id)
        )
    ]
    access = session.scalar(select(Sp.access_number).where(Sp.code == sub.sp_code))
    active_filter = [MoMessage.recipient == access] if access else []
    if order is not None and order.confirm_mo_id is not None:
        active_filter.append(MoMessage.id == order.confirm_mo_id)
    active: list[MoView] = []
    if active_filter:
        active = [
            MoView(m.id, m.msisdn, m.recipient, m.text, m.received_at, m.handled_as)
            for m in session.scalars(
                select(MoMessage)
                .where(
                    MoMessage.msisdn == msisdn,
                    MoMessage.received_at >= since - rules.USE_REQUEST_WINDOW,
                    MoMessage.handled_as.in_(sorted(rules.ACTIVE_USE_LABELS)),
                    or_(*active_filter),
                )
                .order_by(MoMessage.received_at, MoMessage.id)
            )
        ]
    judgements = (
        {str(cid): judgement_view(rules.judge(f)) for cid, f in gathered.facts.items()} if gathered is not None else {}
    )
    return Chain(
        msisdn=msisdn,
        charge=None if charge is None else _row(charge, *CHARGE_FIELDS),
        charges=[_row(c, *CHARGE_FIELDS) for c in charges],
        subscription=_row(sub, *SUB_FIELDS),
        order=None if order is None else _row(order, *ORDER_FIELDS),
        confirmation_request=confirmation,
        confirming_mo=confirming,
        reminders=reminders,
        events=events,
        active_use=active,
        judgements=judgements,
    )


def _mts(ctx: Ctx, msisdn: str, sub: Any, charge_ids: Collection[int]) -> dict[str, MtView]:
    """The confirmation request, the order reminder and the charges' deduction reminders, keyed
    by their send-once key (a deduction reminder: ``charge:<id>``)."""
    keys = [f"confirm:{sub.order_id}", f"ordered:{sub.id}"]
    rows = list(
        ctx.session.scalars(
            select(OutboundSms).where(
                OutboundSms.msisdn == msisdn,
                or_(
                    OutboundSms.dedupe_key.in_(keys),
                    OutboundSms.id.in_(sorted(charge_ids)) if charge_ids else OutboundSms.id.is_(None),
                ),
            )
        )
    )
    parts: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for p in ctx.session.scalars(
            select(SmsPart)
            .where(tuple_(SmsPart.msisdn, SmsPart.outbox_id).in_([(msisdn, r.id) for r in rows]))
            .order_by(SmsPart.outbox_id, SmsPart.part_no)
        ):
            parts.setdefault(p.outbox_id, []).append(
                {"part_no": p.part_no, "status": p.status, "done_at": p.done_at, "error": p.error}
            )
    out: dict[str, MtView] = {}
    for r in rows:
        key = r.dedupe_key if r.dedupe_key in keys else f"charge:{r.id}"
        # a code still sealed at rest is never shown: the evidence names the message, not its code
        shown = REDACTED if is_sealed(r.text) else r.text
        out[key] = MtView(r.id, r.kind, shown, r.created_at, r.sent_at, r.status, parts.get(r.id, []))
    return out
