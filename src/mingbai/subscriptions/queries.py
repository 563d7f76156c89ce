"""Reads: a subscriber's subscriptions, orders and change history (R5), an SP's subscribers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from mingbai.catalog.models import Service, Sp
from mingbai.db import Ctx
from mingbai.msisdn import mask_msisdn, normalize_msisdn
from mingbai.subscriptions.models import Order, Subscription, SubscriptionEvent
from mingbai.subscriptions.orders import PlacedOrder, placed_order


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    order_id: int
    msisdn: str
    service_code: str
    service_name: str
    service_type: str
    sp_code: str
    sp_name: str
    sp_hotline: str
    sp_contact: str | None
    status: str
    channel: str
    gifter: str | None
    billing: str
    price_fen: int
    trial: bool
    ordered_at: datetime
    confirmed_at: datetime
    first_charge_on: date | None
    unsubscribed_at: datetime | None
    unsubscribe_channel: str | None
    description: str | None
    attributes: dict[str, Any] | None
    #: who pays when not the subscriber: the gifter who confirmed paying
    payer_msisdn: str | None = None


def list_subscriptions(
    ctx: Ctx, *, msisdn: str, active_only: bool = False, sp_code: str | None = None
) -> list[SubscriptionView]:
    msisdn = normalize_msisdn(msisdn)
    stmt = (
        select(Subscription, Service, Sp)
        .join(Service, Service.code == Subscription.service_code)
        .join(Sp, Sp.code == Subscription.sp_code)
        .where(Subscription.msisdn == msisdn)
        .order_by(Subscription.confirmed_at, Subscription.id)
    )
    if active_only:
        stmt = stmt.where(Subscription.status == "active")
    return _views(ctx, stmt, sp_code)


def gifts_given(ctx: Ctx, *, msisdn: str, active_only: bool = False) -> list[SubscriptionView]:
    """The subscriptions this subscriber gives and pays for (on their recipients' side): found
    from the gifter's own confirmed halves of gift orders, so no read of every subscription."""
    msisdn = normalize_msisdn(msisdn)
    halves = ctx.session.execute(
        select(Order.recipient, Order.pair_id).where(
            Order.msisdn == msisdn, Order.recipient.is_not(None), Order.status == "confirmed"
        )
    ).all()
    if not halves:
        return []
    stmt = (
        select(Subscription, Service, Sp)
        .join(Service, Service.code == Subscription.service_code)
        .join(Sp, Sp.code == Subscription.sp_code)
        .where(
            Subscription.msisdn.in_(sorted({r for r, _ in halves})),
            Subscription.order_id.in_([i for _, i in halves]),
            Subscription.payer_msisdn == msisdn,
        )
        .order_by(Subscription.confirmed_at, Subscription.id)
    )
    if active_only:
        stmt = stmt.where(Subscription.status == "active")
    return _views(ctx, stmt, None)


def gift_label(s: SubscriptionView, viewer: str) -> str:
    """ "赠送自 139****9000" on the recipient's card, "赠送给 138****8000" on the gifter's; "" otherwise."""
    if s.payer_msisdn and s.msisdn != viewer:
        return f"赠送给 {mask_msisdn(s.msisdn)}"
    if s.gifter:
        return f"赠送自 {mask_msisdn(s.gifter)}"
    return ""


def _views(ctx: Ctx, stmt: Any, sp_code: str | None) -> list[SubscriptionView]:
    if sp_code is not None:
        stmt = stmt.where(Subscription.sp_code == sp_code)
    out = []
    for sub, svc, sp in ctx.session.execute(stmt).all():
        out.append(
            SubscriptionView(
                sub.id,
                sub.order_id,
                sub.msisdn,
                sub.service_code,
                svc.name,
                svc.type,
                sp.code,
                sp.name,
                sp.hotline,
                sp.contact,
                sub.status,
                sub.channel,
                sub.gifter,
                sub.billing,
                sub.price_fen,
                sub.trial,
                sub.ordered_at,
                sub.confirmed_at,
                sub.first_charge_on,
                sub.unsubscribed_at,
                sub.unsubscribe_channel,
                svc.description,
                svc.attributes,
                sub.payer_msisdn,
            )
        )
    return out


@dataclass(frozen=True)
class EventView:
    at: datetime
    kind: str
    service_code: str
    order_id: int | None
    subscription_id: int | None
    actor: str
    channel: str
    detail: dict[str, Any] | None


def history(ctx: Ctx, *, msisdn: str, since: datetime | None = None) -> list[EventView]:
    """Change history, one year by default (R5)."""
    msisdn = normalize_msisdn(msisdn)
    since = since or ctx.now() - timedelta(days=365)
    rows = ctx.session.scalars(
        select(SubscriptionEvent)
        .where(SubscriptionEvent.msisdn == msisdn, SubscriptionEvent.at >= since)
        .order_by(SubscriptionEvent.at, SubscriptionEvent.id)
    )
    return [
        EventView(e.at, e.kind, e.service_code, e.order_id, e.subscription_id, e.actor, e.channel, e.detail)
        for e in rows
    ]


def subscriptions_with_history(
    ctx: Ctx, *, msisdn: str, active_only: bool = False
) -> list[tuple[SubscriptionView, list[EventView]]]:
    """Each subscription (oldest first) with its own events and its order's, one year back (R5)."""
    views = list_subscriptions(ctx, msisdn=msisdn, active_only=active_only)
    events = history(ctx, msisdn=msisdn)
    return [(s, [e for e in events if e.subscription_id == s.id or e.order_id == s.order_id]) for s in views]


def list_orders(ctx: Ctx, *, msisdn: str, sp_code: str | None = None) -> list[PlacedOrder]:
    msisdn = normalize_msisdn(msisdn)
    stmt = select(Order).where(Order.msisdn == msisdn).order_by(Order.id)
    if sp_code is not None:
        stmt = stmt.where(Order.sp_code == sp_code)
    return [placed_order(o) for o in ctx.session.scalars(stmt)]


def list_sp_subscriptions(ctx: Ctx, *, sp_code: str, limit: int = 100, after_id: int | None = None) -> list[Any]:
    stmt = (
        select(Subscription)
        .where(Subscription.sp_code == sp_code, Subscription.status == "active")
        .order_by(Subscription.id)
        .limit(limit)
    )
    if after_id is not None:
        stmt = stmt.where(Subscription.id > after_id)
    return list(ctx.session.scalars(stmt))
