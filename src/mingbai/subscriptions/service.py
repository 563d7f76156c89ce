"""Subscription use cases: place an order, decide a code reply, unsubscribe, query.

Every function runs inside the caller's unit of work (never commits), locks the
subscriber's row first when it changes anything of theirs (so concurrent SMS, API calls and
the scheduler serialise per MSISDN), and appends an event for every state change.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, insert, select, update

from mingbai.catalog.models import Service, Sp, Subscriber
from mingbai.catalog.rules import reminder_label
from mingbai.db import Ctx, insert_ignore, table_of, upsert
from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.messaging.service import enqueue
from mingbai.msisdn import normalize_msisdn
from mingbai.subscriptions import texts
from mingbai.subscriptions.models import (
    Order,
    PlatformKey,
    Subscription,
    SubscriptionEvent,
    UnsubscribeMenu,
)
from mingbai.subscriptions.rules import (
    CHANNELS,
    CodeCandidate,
    CodeVerdict,
    code_mac,
    decide_code_reply,
    first_charge_on,
    new_code,
    trial_wording,
)
from mingbai.subscriptions.texts import ServiceFacts

#: how far back a code reply is matched against orders (to say "expired" rather than "unknown")
CODE_LOOKBACK = timedelta(days=1)


# -- shared helpers --------------------------------------------------------------------


def event_row(
    ctx: Ctx,
    *,
    msisdn: str,
    kind: str,
    service_code: str,
    actor: str,
    channel: str,
    order_id: int | None = None,
    subscription_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "msisdn": msisdn,
        "id": new_id(),
        "at": ctx.now(),
        "kind": kind,
        "service_code": service_code,
        "order_id": order_id,
        "subscription_id": subscription_id,
        "actor": actor,
        "channel": channel,
        "detail": detail,
    }


def record_events(ctx: Ctx, rows: list[dict[str, Any]]) -> None:
    """The one way subscription and order changes are written down (append-only)."""
    if rows:
        ctx.conn.execute(insert(table_of(SubscriptionEvent)), rows)


def record_event(ctx: Ctx, **fields: Any) -> None:
    """One event; see :func:`event_row` for the fields (who, channel, when, what)."""
    record_events(ctx, [event_row(ctx, **fields)])


_KEY_CACHE: dict[int, bytes] = {}


def code_key(ctx: Ctx) -> bytes:
    """The MAC key for confirmation codes: configured, or generated once and kept in the DB."""
    if ctx.settings.code_secret:
        return ctx.settings.code_secret.encode()
    bind = ctx.session.get_bind()
    cache_key = id(bind)
    if cache_key not in _KEY_CACHE:
        insert_ignore(
            ctx.session, PlatformKey.__table__, [{"name": "code_mac", "value": secrets.token_hex(32)}], ["name"]
        )
        value = ctx.session.scalar(select(PlatformKey.value).where(PlatformKey.name == "code_mac"))
        assert value is not None
        _KEY_CACHE[cache_key] = bytes.fromhex(value)
    return _KEY_CACHE[cache_key]


@dataclass(frozen=True)
class CatalogEntry:
    facts: ServiceFacts
    sp_code: str
    service_status: str
    sp_status: str


def catalog_entry(ctx: Ctx, service_code: str) -> CatalogEntry:
    row = ctx.conn.execute(
        select(
            Service.code,
            Service.name,
            Service.type,
            Service.billing,
            Service.price_fen,
            Service.status,
            Sp.code,
            Sp.name,
            Sp.hotline,
            Sp.status,
        )
        .join(Sp, Sp.code == Service.sp_code)
        .where(Service.code == service_code)
    ).first()
    if row is None:
        raise NotFound(f"no service with code {service_code!r}", code="unknown_service")
    code, name, type_, billing, price, status, sp_code, sp_name, hotline, sp_status = row
    return CatalogEntry(ServiceFacts(code, name, type_, billing, price, sp_name, hotline), sp_code, status, sp_status)


def lock_subscriber(ctx: Ctx, msisdn: str) -> str:
    """Lock the subscriber's row and return its status; every change to one subscriber goes
    through here, so concurrent SMS, API calls and the scheduler serialise per MSISDN."""
    stmt = select(Subscriber.status).where(Subscriber.msisdn == msisdn)
    if ctx.dialect == "postgresql":
        stmt = stmt.with_for_update()
    status = ctx.conn.execute(stmt).scalar()
    if status is None:
        raise NotFound(f"no subscriber {msisdn[:3]}****{msisdn[-4:]}", code="unknown_subscriber")
    return status


# -- orders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    msisdn: str
    service_code: str
    sp_code: str
    channel: str
    gifter: str | None
    status: str
    price_fen: int
    created_at: datetime
    expires_at: datetime
    #: False when an SP repeated an ``external_ref`` and got the existing order back
    created: bool = True


def place_order(
    ctx: Ctx,
    *,
    msisdn: str,
    service_code: str,
    channel: str,
    actor: str,
    gifter: str | None = None,
    sp_code: str | None = None,
    external_ref: str | None = None,
    mo_id: int | None = None,
) -> PlacedOrder:
    """Record a pending order and send the confirmation request with a fresh code (R2).

    ``sp_code`` restricts the order to that SP's services (an SP ordering through the API).
    """
    msisdn = normalize_msisdn(msisdn)
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", code="bad_channel")
    if gifter is not None:
        gifter = normalize_msisdn(gifter)
        if gifter == msisdn:
            raise InvalidInput("a gift order names someone other than the recipient as gifter", code="bad_gifter")
    if external_ref is not None and not (1 <= len(external_ref) <= 64):
        raise InvalidInput("external_ref must be 1–64 characters", code="bad_external_ref")
    if lock_subscriber(ctx, msisdn) != "active":
        raise Conflict("subscriber is not active; no order can be placed", code="subscriber_inactive")
    entry = catalog_entry(ctx, service_code)
    if sp_code is not None and entry.sp_code != sp_code:
        # another SP's service: as if it did not exist
        raise NotFound(f"no service with code {service_code!r}", code="unknown_service")
    if entry.sp_status != "active":
        raise Conflict(f"SP {entry.sp_code} is suspended and may not take new orders", code="sp_suspended")
    if entry.service_status != "active":
        raise Conflict(f"service {service_code} is suspended", code="service_suspended")
    now = ctx.now()
    expires_at = now + timedelta(minutes=ctx.settings.code_ttl_minutes)
    if external_ref is not None:
        existing = ctx.session.scalars(
            select(Order).where(
                Order.msisdn == msisdn, Order.sp_code == entry.sp_code, Order.external_ref == external_ref
            )
        ).first()
        if existing is not None:
            if existing.service_code != service_code:
                raise Conflict("external_ref was already used for another service", code="external_ref_reused")
            return _placed(existing, created=False)
    active, pending = ctx.conn.execute(
        select(
            exists().where(
                Subscription.msisdn == msisdn,
                Subscription.service_code == service_code,
                Subscription.status == "active",
            ),
            exists().where(
                Order.msisdn == msisdn,
                Order.service_code == service_code,
                Order.status == "pending",
                Order.expires_at > now,
            ),
        )
    ).one()
    if active:
        raise Conflict(f"already subscribed to {service_code}", code="already_subscribed")
    if pending:
        raise Conflict(
            f"an order for {service_code} is already waiting for the subscriber's confirmation",
            code="pending_exists",
        )
    order_id = new_id()
    code = new_code(ctx.settings.code_digits)
    row = {
        "msisdn": msisdn,
        "id": order_id,
        "service_code": service_code,
        "sp_code": entry.sp_code,
        "channel": channel,
        "gifter": gifter,
        "status": "pending",
        "price_fen": entry.facts.price_fen,
        "created_at": now,
        "expires_at": expires_at,
        "code_mac": code_mac(code_key(ctx), msisdn, order_id, code),
        "attempts": 0,
        "external_ref": external_ref,
        "actor": actor,
        "mo_id": mo_id,
    }
    ctx.conn.execute(insert(table_of(Order)), row)
    record_event(
        ctx,
        msisdn=msisdn,
        kind="order_placed",
        service_code=service_code,
        actor=actor,
        channel=channel,
        order_id=order_id,
        detail={"price_fen": entry.facts.price_fen, "gifter": gifter},
    )
    enqueue(
        ctx,
        msisdn=msisdn,
        kind="confirmation_request",
        dedupe_key=f"confirm:{order_id}",
        mo_id=mo_id,
        text=texts.confirmation_request(entry.facts, code, ctx.settings.code_ttl_minutes, gifter),
    )
    return PlacedOrder(
        order_id,
        msisdn,
        service_code,
        entry.sp_code,
        channel,
        gifter,
        "pending",
        entry.facts.price_fen,
        now,
        expires_at,
    )


def _placed(o: Order, created: bool = True) -> PlacedOrder:
    return PlacedOrder(
        o.id,
        o.msisdn,
        o.service_code,
        o.sp_code,
        o.channel,
        o.gifter,
        o.status,
        o.price_fen,
        o.created_at,
        o.expires_at,
        created,
    )


def get_order(ctx: Ctx, order_id: int, *, sp_code: str | None = None) -> PlacedOrder:
    stmt = select(Order).where(Order.id == order_id)
    if sp_code is not None:
        stmt = stmt.where(Order.sp_code == sp_code)
    order = ctx.session.scalars(stmt).first()
    if order is None:
        raise NotFound(f"no order {order_id}", code="unknown_order")
    return _placed(order)


# -- code replies --------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeOutcome:
    verdict: str  # confirmed | expired | wrong | locked | no_pending | refused
    subscription_id: int | None = None


def reply_code(ctx: Ctx, *, msisdn: str, code: str, mo_id: int | None = None) -> CodeOutcome:
    """Decide a code the subscriber sent to 10086 and answer it by SMS."""
    lock_subscriber(ctx, msisdn)
    now = ctx.now()
    orders = list(
        ctx.conn.execute(
            select(table_of(Order)).where(
                Order.msisdn == msisdn,
                Order.status.in_(("pending", "expired")),
                Order.created_at > now - CODE_LOOKBACK,
            )
        )
    )
    candidates = [CodeCandidate(o.id, o.status, o.expires_at, o.code_mac, o.attempts) for o in orders]
    decision = decide_code_reply(code_key(ctx), msisdn, code, candidates, now)
    by_id = {o.id: o for o in orders}
    if decision.verdict is CodeVerdict.CONFIRM:
        assert decision.order_id is not None
        return _confirm(ctx, by_id[decision.order_id], mo_id)
    if decision.verdict is CodeVerdict.EXPIRED:
        assert decision.order_id is not None
        order = by_id[decision.order_id]
        record_event(
            ctx,
            msisdn=msisdn,
            kind="late_code",
            service_code=order.service_code,
            actor=f"subscriber:{msisdn}",
            channel="sms",
            order_id=order.id,
        )
        facts = catalog_entry(ctx, order.service_code).facts
        enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.code_expired(facts), mo_id=mo_id)
        return CodeOutcome("expired")
    if decision.verdict is CodeVerdict.NO_PENDING:
        enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.no_pending(), mo_id=mo_id)
        return CodeOutcome("no_pending")
    return _wrong_code(ctx, msisdn, [o for o in orders if o.status == "pending" and o.expires_at > now], mo_id)


def _wrong_code(ctx: Ctx, msisdn: str, live: list[Any], mo_id: int | None) -> CodeOutcome:
    """A wrong code counts against every order still waiting, so many guesses cannot find one."""
    limit = ctx.settings.max_code_attempts
    locked = False
    left = limit
    for order in live:
        attempts = order.attempts + 1
        status = "failed" if attempts >= limit else "pending"
        ctx.conn.execute(
            update(Order)
            .where(Order.msisdn == msisdn, Order.id == order.id, Order.status == "pending")
            .values(attempts=attempts, status=status, decided_at=ctx.now() if status == "failed" else None)
        )
        record_event(
            ctx,
            msisdn=msisdn,
            kind="code_locked" if status == "failed" else "code_rejected",
            service_code=order.service_code,
            actor=f"subscriber:{msisdn}",
            channel="sms",
            order_id=order.id,
            detail={"attempts": attempts},
        )
        locked = locked or status == "failed"
        left = min(left, limit - attempts)
    text = texts.code_locked() if locked else texts.code_wrong(left)
    enqueue(ctx, msisdn=msisdn, kind="reply", text=text, mo_id=mo_id)
    return CodeOutcome("locked" if locked else "wrong")


def _confirm(ctx: Ctx, order: Any, mo_id: int | None) -> CodeOutcome:
    """``order`` is a row of ``sub_order``."""
    msisdn = order.msisdn
    now = ctx.now()
    actor = f"subscriber:{msisdn}"
    entry = catalog_entry(ctx, order.service_code)
    refusal = None
    if entry.sp_status != "active":
        refusal = "该业务提供商已暂停受理新订购"
    elif entry.service_status != "active":
        refusal = "该业务已暂停受理"
    has_active, has_any = ctx.conn.execute(
        select(
            exists().where(
                Subscription.msisdn == msisdn,
                Subscription.service_code == order.service_code,
                Subscription.status == "active",
            ),
            exists().where(Subscription.msisdn == msisdn, Subscription.service_code == order.service_code),
        )
    ).one()
    if refusal is None and has_active:
        refusal = "您已订购该业务"
    if refusal is not None:
        ctx.conn.execute(
            update(Order)
            .where(Order.msisdn == msisdn, Order.id == order.id, Order.status == "pending")
            .values(status="failed", decided_at=now)
        )
        record_event(
            ctx,
            msisdn=msisdn,
            kind="order_refused",
            service_code=order.service_code,
            actor=actor,
            channel="sms",
            order_id=order.id,
            detail={"reason": refusal},
        )
        enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.order_refused(refusal), mo_id=mo_id)
        return CodeOutcome("refused")
    result = ctx.conn.execute(
        update(Order)
        .where(Order.msisdn == msisdn, Order.id == order.id, Order.status == "pending")
        .values(status="confirmed", decided_at=now)
    )
    if result.rowcount != 1:
        # decided meanwhile (expired by the scheduler): answer as a late code
        enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.code_expired(entry.facts), mo_id=mo_id)
        return CodeOutcome("expired")
    first_order = not has_any
    billing = entry.facts.billing
    first_charge = first_charge_on(billing, now, first_order=first_order)
    in_trial = billing == "monthly" and first_order
    sub_id = new_id()
    ctx.conn.execute(
        insert(table_of(Subscription)),
        {
            "msisdn": msisdn,
            "id": sub_id,
            "service_code": order.service_code,
            "sp_code": order.sp_code,
            "order_id": order.id,
            "channel": order.channel,
            "gifter": order.gifter,
            "status": "active",
            "billing": billing,
            "price_fen": order.price_fen,
            "trial": in_trial,
            "first_charge_on": first_charge,
            "ordered_at": order.created_at,
            "confirmed_at": now,
        },
    )
    detail = {
        "trial": in_trial,
        "first_charge_on": first_charge.isoformat() if first_charge else None,
        "price_fen": order.price_fen,
    }
    record_events(
        ctx,
        [
            event_row(
                ctx,
                msisdn=msisdn,
                kind="order_confirmed",
                service_code=order.service_code,
                actor=actor,
                channel="sms",
                order_id=order.id,
                subscription_id=sub_id,
            ),
            event_row(
                ctx,
                msisdn=msisdn,
                kind="subscribed",
                service_code=order.service_code,
                actor=actor,
                channel=order.channel,
                order_id=order.id,
                subscription_id=sub_id,
                detail=detail,
            ),
        ],
    )
    facts = ServiceFacts(**{**entry.facts.__dict__, "price_fen": order.price_fen})
    enqueue(
        ctx,
        msisdn=msisdn,
        kind="order_reminder",
        dedupe_key=f"ordered:{sub_id}",
        mo_id=mo_id,
        text=texts.order_reminder(facts, trial_wording(first_charge, now, in_trial=in_trial)),
    )
    return CodeOutcome("confirmed", sub_id)


# -- unsubscription ------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsubscribed:
    subscription_id: int
    service_code: str


def unsubscribe(
    ctx: Ctx,
    *,
    msisdn: str,
    channel: str,
    actor: str,
    subscription_ids: Sequence[int] | None = None,
    service_code: str | None = None,
    sp_code: str | None = None,
    mo_id: int | None = None,
) -> list[Unsubscribed]:
    """End active subscriptions (all of them when neither ids nor a service code is given) and
    confirm by one SMS. Already-ended ones are left as they are: unsubscribing is idempotent."""
    msisdn = normalize_msisdn(msisdn)
    if channel not in (*CHANNELS, "system"):
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", code="bad_channel")
    lock_subscriber(ctx, msisdn)
    now = ctx.now()
    conds = [Subscription.msisdn == msisdn, Subscription.status == "active"]
    if subscription_ids is not None:
        if not subscription_ids:
            return []
        conds.append(Subscription.id.in_(list(subscription_ids)))
    if service_code is not None:
        conds.append(Subscription.service_code == service_code)
    if sp_code is not None:
        conds.append(Subscription.sp_code == sp_code)
    ended = ctx.conn.execute(
        update(Subscription)
        .where(and_(*conds))
        .values(status="unsubscribed", unsubscribed_at=now, unsubscribe_channel=channel)
        .returning(Subscription.id, Subscription.service_code, Subscription.confirmed_at)
    ).all()
    ended = sorted(ended, key=lambda r: (r.confirmed_at, r.id))
    if not ended:
        return []
    facts: list[ServiceFacts] = []
    for row in ended:
        record_event(
            ctx,
            msisdn=msisdn,
            kind="unsubscribed",
            service_code=row.service_code,
            actor=actor,
            channel=channel,
            subscription_id=row.id,
        )
        facts.append(catalog_entry(ctx, row.service_code).facts)
    enqueue(
        ctx,
        msisdn=msisdn,
        kind="unsubscribe_confirmation",
        dedupe_key=f"unsub:{ended[0].id}",
        text=texts.unsubscribed(facts),
        mo_id=mo_id,
    )
    return [Unsubscribed(r.id, r.service_code) for r in ended]


# -- "0000" query and menu -----------------------------------------------------------------


def _active_for_menu(ctx: Ctx, msisdn: str) -> list[tuple[int, str]]:
    rows = ctx.session.execute(
        select(Subscription.id, Subscription.billing, Subscription.price_fen, Service.name, Service.type, Sp.name)
        .join(Service, Service.code == Subscription.service_code)
        .join(Sp, Sp.code == Subscription.sp_code)
        .where(Subscription.msisdn == msisdn, Subscription.status == "active")
        .order_by(Subscription.confirmed_at, Subscription.id)
    ).all()
    return [(r[0], reminder_label(r[5], r[3], r[4], r[1], r[2])) for r in rows]


def query(ctx: Ctx, *, msisdn: str, mo_id: int | None = None) -> str:
    """Reply to "0000": the numbered list, remembered so the next reply can pick by number."""
    items = _active_for_menu(ctx, msisdn)
    now = ctx.now()
    upsert(
        ctx.session,
        UnsubscribeMenu.__table__,
        [{"msisdn": msisdn, "subscription_ids": [i for i, _ in items], "issued_at": now}],
        ["msisdn"],
    )
    text = texts.query_menu([label for _, label in items])
    enqueue(ctx, msisdn=msisdn, kind="query_reply", text=text, mo_id=mo_id)
    return text


def choose_from_menu(ctx: Ctx, *, msisdn: str, numbers: Sequence[int], mo_id: int | None = None) -> str:
    lock_subscriber(ctx, msisdn)
    menu = ctx.session.get(UnsubscribeMenu, msisdn)
    ttl = timedelta(minutes=ctx.settings.menu_ttl_minutes)
    if menu is None or menu.issued_at + ttl < ctx.now():
        enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.menu_missing(), mo_id=mo_id)
        return "menu_missing"
    ids = list(menu.subscription_ids)
    bad = [n for n in numbers if n > len(ids)]
    if bad:
        enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.menu_out_of_range(bad, len(ids)), mo_id=mo_id)
        return "menu_out_of_range"
    ended = unsubscribe(
        ctx,
        msisdn=msisdn,
        channel="sms",
        actor=f"subscriber:{msisdn}",
        subscription_ids=[ids[n - 1] for n in numbers],
        mo_id=mo_id,
    )
    if not ended:
        enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.menu_stale(numbers), mo_id=mo_id)
        return "menu_stale"
    return "unsubscribe"


# -- reads ---------------------------------------------------------------------------------


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
    return [_placed(o) for o in ctx.session.scalars(stmt)]


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
