"""Charging use cases around a subscriber: their charges, objecting to one, the network-entry
reminder. Functions run in the caller's unit of work and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import select, update

from mingbai.audit import service as audit
from mingbai.catalog.models import Service, Sp, Subscriber
from mingbai.catalog.rules import SubscriberIn, reminder_label
from mingbai.catalog.service import save_subscriber
from mingbai.charging import texts
from mingbai.charging.models import Charge, ChargeObjection
from mingbai.charging.packages import find_package
from mingbai.charging.rules import parse_billing_period
from mingbai.db import Ctx, insert_ignore
from mingbai.disputes.service import open_dispute
from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.models import OutboundSms
from mingbai.messaging.service import enqueue
from mingbai.msisdn import normalize_msisdn
from mingbai.subscriptions.events import EventKind
from mingbai.subscriptions.models import Subscription
from mingbai.subscriptions.service import lock_subscriber, record_event, unsubscribe

#: a bare "YY" objects to the latest charge raised this long ago at most
BARE_OBJECTION_WINDOW = timedelta(days=35)
OBJECTION_CHANNELS = ("sms", "hotline", "hall", "web")


#: what a charge is for (the ``charge.kind`` column)
ChargeKind = Literal["monthly", "per_use"]


@dataclass(frozen=True)
class ChargeView:
    id: int
    msisdn: str
    service_code: str
    service_name: str
    sp_code: str
    sp_name: str
    kind: ChargeKind
    period: str
    amount_fen: int
    quantity: int
    created_at: datetime
    occurred_at: datetime
    usage_ref: str
    subscription_id: int
    objected: bool
    #: a gift's fee, charged to its gifter: whose subscription it is for
    recipient_msisdn: str | None = None


def list_charges(
    ctx: Ctx,
    *,
    msisdn: str,
    period: str | None = None,
    sp_code: str | None = None,
    since: datetime | None = None,
    booked: tuple[datetime, datetime] | None = None,
    limit: int = 1000,
) -> list[ChargeView]:
    """A subscriber's charges, oldest first; an SP passes its code and sees only its own.

    ``booked`` = [start, end): the charges that reached the account in that interval (by
    ``created_at``, the instant the ledger debits them): what a month's bill lists."""
    msisdn = normalize_msisdn(msisdn)
    stmt = (
        select(Charge, Service.name, Sp.name, ChargeObjection.id)
        .join(Service, Service.code == Charge.service_code)
        .join(Sp, Sp.code == Charge.sp_code)
        .outerjoin(
            ChargeObjection, (ChargeObjection.msisdn == Charge.msisdn) & (ChargeObjection.charge_id == Charge.id)
        )
        .where(Charge.msisdn == msisdn)
        .order_by(Charge.occurred_at, Charge.id)
        .limit(limit)
    )
    if period is not None:
        stmt = stmt.where(Charge.period == parse_billing_period(period).label)
    if sp_code is not None:
        stmt = stmt.where(Charge.sp_code == sp_code)
    if since is not None:
        stmt = stmt.where(Charge.occurred_at >= since)
    if booked is not None:
        stmt = stmt.where(Charge.created_at >= booked[0], Charge.created_at < booked[1])
    return [
        ChargeView(
            c.id,
            c.msisdn,
            c.service_code,
            service_name,
            c.sp_code,
            sp_name,
            cast(ChargeKind, c.kind),
            c.period,
            c.amount_fen,
            c.quantity,
            c.created_at,
            c.occurred_at,
            c.usage_ref,
            c.subscription_id,
            objection_id is not None,
            c.recipient_msisdn,
        )
        for c, service_name, sp_name, objection_id in ctx.session.execute(stmt).all()
    ]


# -- objections (异议) --------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectionOutcome:
    """``accepted`` (new objection), ``repeated`` (this charge was objected to before),
    ``no_charge`` or ``ambiguous`` (a bare "YY" after charges for several services)."""

    verdict: str
    objection_id: int | None = None
    charge_id: int | None = None
    stopped: list[str] | None = None
    #: the dispute the objection opened (decided by rule at once, or being verified)
    dispute_id: int | None = None


def _objection_target(ctx: Ctx, msisdn: str, service_code: str | None) -> Charge | list[str] | None:
    stmt = select(Charge).where(Charge.msisdn == msisdn).order_by(Charge.created_at.desc(), Charge.id.desc())
    if service_code is not None:
        return ctx.session.scalars(stmt.where(Charge.service_code == service_code).limit(1)).first()
    recent = list(ctx.session.scalars(stmt.where(Charge.created_at >= ctx.now() - BARE_OBJECTION_WINDOW)))
    codes = list(dict.fromkeys(c.service_code for c in recent))
    if len(codes) > 1:
        return codes
    return recent[0] if recent else None


def object_to_charge(
    ctx: Ctx,
    *,
    msisdn: str,
    channel: str,
    actor: str,
    charge_id: int | None = None,
    service_code: str | None = None,
    mo_id: int | None = None,
    words: str | None = None,
) -> ObjectionOutcome:
    """The subscriber disputes a charge (seed 002: 客户如有异议可提出终止扣费).

    Charging stops at once (the subscription is unsubscribed through the subscription core,
    which confirms it by SMS), the objection is kept (which charge, when, by which channel and,
    by SMS, which MO), and it opens a dispute that the refund rules decide at once (R8), with the
    result sent by SMS. Saying it twice changes nothing.
    """
    msisdn = normalize_msisdn(msisdn)
    if channel not in OBJECTION_CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(OBJECTION_CHANNELS)}", code="bad_channel")
    lock_subscriber(ctx, msisdn)
    if charge_id is not None:
        target: Charge | list[str] | None = ctx.session.get(Charge, (msisdn, charge_id))
        if target is None:
            raise NotFound(f"no charge {charge_id} for this subscriber", code="unknown_charge")
    else:
        target = _objection_target(ctx, msisdn, service_code.upper() if service_code else None)
    if target is None:
        enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.objection_no_charge(service_code), mo_id=mo_id)
        return ObjectionOutcome("no_charge")
    if isinstance(target, list):
        enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.objection_ambiguous(target), mo_id=mo_id)
        return ObjectionOutcome("ambiguous")
    charge = target
    sp_name, service_name = ctx.session.execute(
        select(Sp.name, Service.name)
        .join(Service, Service.sp_code == Sp.code)
        .where(Service.code == charge.service_code)
    ).one()
    objection_id = new_id()
    inserted = insert_ignore(
        ctx.session,
        ChargeObjection.__table__,
        [
            {
                "msisdn": msisdn,
                "id": objection_id,
                "charge_id": charge.id,
                "subscription_id": charge.subscription_id,
                "service_code": charge.service_code,
                "sp_code": charge.sp_code,
                "amount_fen": charge.amount_fen,
                "period": charge.period,
                "objected_at": ctx.now(),
                "channel": channel,
                "actor": actor,
                "mo_id": mo_id,
                "status": "open",
            }
        ],
        ["msisdn", "charge_id"],
    )
    ended = unsubscribe(
        ctx,
        msisdn=msisdn,
        channel=channel,
        actor=actor,
        subscription_ids=[charge.subscription_id],
        mo_id=mo_id,
    )
    if not inserted:
        enqueue(
            ctx,
            msisdn=msisdn,
            kind=MessageKind.REPLY,
            text=texts.objection_repeated(sp_name, service_name),
            mo_id=mo_id,
        )
        return ObjectionOutcome("repeated", None, charge.id, [e.service_code for e in ended])
    record_event(
        ctx,
        msisdn=msisdn,
        kind=EventKind.CHARGE_OBJECTED,
        service_code=charge.service_code,
        actor=actor,
        channel=channel,
        subscription_id=charge.subscription_id,
        detail={"charge_id": charge.id, "amount_fen": charge.amount_fen, "period": charge.period},
    )
    period_zh = parse_billing_period(charge.period).zh
    # the charge's deduction reminder (outbox id = charge id) may still wait for 08:00: it must
    # not go out as if nothing had happened since (issue 13)
    ctx.session.execute(
        update(OutboundSms)
        .where(
            OutboundSms.msisdn == msisdn,
            OutboundSms.id == charge.id,
            OutboundSms.kind == MessageKind.CHARGE_REMINDER,
            OutboundSms.status == "queued",
        )
        .values(text=texts.reminder_after_objection(sp_name, service_name, period_zh, charge.amount_fen))
    )
    enqueue(
        ctx,
        msisdn=msisdn,
        kind=MessageKind.OBJECTION_ACK,
        dedupe_key=f"objection:{charge.id}",
        text=texts.objection_accepted(sp_name, service_name, period_zh, charge.amount_fen),
        mo_id=mo_id,
    )
    # the objection is a dispute (R8): decided by rule now, its result sent by SMS as promised
    dispute = open_dispute(
        ctx, msisdn=msisdn, channel=channel, actor=actor, charge_ids=[charge.id], words=words, mo_id=mo_id
    )
    ctx.session.execute(
        update(ChargeObjection)
        .where(ChargeObjection.msisdn == msisdn, ChargeObjection.id == objection_id)
        .values(status="disputed")
    )
    audit.record_staff(
        ctx,
        actor=actor,
        action="charging.objection",
        subject_msisdn=msisdn,
        detail={"charge": charge.id, "objection": objection_id, "dispute": dispute.id},
    )
    return ObjectionOutcome("accepted", objection_id, charge.id, [e.service_code for e in ended], dispute.id)


@dataclass(frozen=True)
class ObjectionView:
    id: int
    msisdn: str
    charge_id: int
    subscription_id: int
    service_code: str
    sp_code: str
    amount_fen: int
    period: str
    objected_at: datetime
    channel: str
    actor: str
    mo_id: int | None
    status: str


def list_objections(ctx: Ctx, *, msisdn: str | None = None, status: str | None = None) -> list[ObjectionView]:
    stmt = select(ChargeObjection).order_by(ChargeObjection.objected_at, ChargeObjection.id)
    if msisdn is not None:
        stmt = stmt.where(ChargeObjection.msisdn == normalize_msisdn(msisdn))
    if status is not None:
        stmt = stmt.where(ChargeObjection.status == status)
    return [
        ObjectionView(
            o.id,
            o.msisdn,
            o.charge_id,
            o.subscription_id,
            o.service_code,
            o.sp_code,
            o.amount_fen,
            o.period,
            o.objected_at,
            o.channel,
            o.actor,
            o.mo_id,
            o.status,
        )
        for o in ctx.session.scalars(stmt)
    ]


# -- 入网提醒: activation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    msisdn: str
    brand: str
    package_code: str | None
    reminder_outbox_id: int | None


def activate(
    ctx: Ctx,
    *,
    msisdn: str,
    brand: str,
    province: str,
    city: str | None = None,
    package_code: str | None = None,
) -> Activation:
    """A number enters the network (入网): the subscriber is recorded active with the package
    they chose, and 10086 tells them the package, their services and the prices (seed 002)."""
    msisdn = normalize_msisdn(msisdn)
    package = find_package(package_code)
    if package_code and package is None:
        raise InvalidInput(f"unknown package {package_code!r}; see `mingbai billing packages`", code="bad_package")
    existing = ctx.session.get(Subscriber, msisdn)
    if existing is not None and existing.status == "active":
        raise Conflict("this number is already active", code="already_active")
    sub = save_subscriber(
        ctx,
        SubscriberIn(
            msisdn=msisdn,
            brand=brand,
            province=province,
            city=city,
            package=package.code if package else None,
            status="active",
        ),
    )
    rows = ctx.session.execute(
        select(Sp.name, Service.name, Service.type, Subscription.billing, Subscription.price_fen)
        .join(Service, Service.code == Subscription.service_code)
        .join(Sp, Sp.code == Subscription.sp_code)
        .where(Subscription.msisdn == msisdn, Subscription.status == "active")
        .order_by(Subscription.confirmed_at)
    ).all()
    labels = [reminder_label(*r) for r in rows]
    outbox_id = enqueue(
        ctx,
        msisdn=msisdn,
        kind=MessageKind.ENTRY_REMINDER,
        dedupe_key=f"entry:{new_id()}",
        text=texts.entry_reminder(msisdn, sub.brand, package, labels),
    )
    return Activation(msisdn, sub.brand, package.code if package else None, outbox_id)
