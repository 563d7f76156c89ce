"""Placing orders (R2): every request decided against the catalog and the subscriber's state,
stored with the MAC of a fresh code, and answered with the confirmation request.

Runs inside the caller's unit of work (never commits); locks the subscribers first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from mingbai.audit import service as audit
from mingbai.db import Ctx, insert_rows, table_of
from mingbai.errors import Conflict, InvalidInput, MingbaiError, NotFound
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import Mt, enqueue_many
from mingbai.msisdn import mask_msisdn, normalize_msisdn
from mingbai.subscriptions import texts
from mingbai.subscriptions.events import EventKind
from mingbai.subscriptions.models import Order, Subscription
from mingbai.subscriptions.rules import (
    CHANNELS,
    DUPLICATES,
    Refusal,
    code_mac,
    new_code,
    order_refusal,
    subscriber_refusal,
)
from mingbai.subscriptions.shared import (
    CatalogEntry,
    catalog_entries,
    code_key,
    event_row,
    lock_subscribers,
    record_events,
    unknown_subscriber,
)


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


@dataclass(frozen=True)
class OrderRequest:
    """One order to place; ``sp_code`` restricts it to that SP's services (an SP ordering
    through the API), ``external_ref`` is the SP's idempotency key."""

    msisdn: str
    service_code: str
    channel: str
    actor: str
    gifter: str | None = None
    sp_code: str | None = None
    external_ref: str | None = None
    mo_id: int | None = None


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
    """Record a pending order and send the confirmation request with a fresh code (R2)."""
    request = OrderRequest(msisdn, service_code, channel, actor, gifter, sp_code, external_ref, mo_id)
    result = place_orders(ctx, [request])[0]
    if isinstance(result, MingbaiError):
        raise result
    return result


def _checked(req: OrderRequest) -> OrderRequest:
    msisdn = normalize_msisdn(req.msisdn)
    if req.channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", code="bad_channel")
    gifter = req.gifter
    if gifter is not None:
        gifter = normalize_msisdn(gifter)
        if gifter == msisdn:
            raise InvalidInput("a gift order names someone other than the recipient as gifter", code="bad_gifter")
    if req.external_ref is not None and not (1 <= len(req.external_ref) <= 64):
        raise InvalidInput("external_ref must be 1–64 characters", code="bad_external_ref")
    return replace(req, msisdn=msisdn, gifter=gifter)


def place_orders(ctx: Ctx, requests: Sequence[OrderRequest]) -> list[PlacedOrder | MingbaiError]:
    """Place many orders with a fixed number of statements, whatever their number (R2).

    Each request gets its own answer: the placed order, or the error that refused it (nothing is
    written for a refused one). Requests are decided in order, so a second order of the same
    service by the same subscriber in one batch finds the first one pending.
    """
    results: list[PlacedOrder | MingbaiError | None] = [None] * len(requests)
    todo: list[tuple[int, OrderRequest]] = []
    for i, raw in enumerate(requests):
        try:
            todo.append((i, _checked(raw)))
        except MingbaiError as exc:
            results[i] = exc
    if todo:
        _place(ctx, todo, results)
    return [r for r in results if r is not None]


def _place(ctx: Ctx, todo: list[tuple[int, OrderRequest]], results: list[PlacedOrder | MingbaiError | None]) -> None:
    now = ctx.now()
    expires_at = now + timedelta(minutes=ctx.settings.code_ttl_minutes)
    msisdns = sorted({r.msisdn for _, r in todo})
    # a gift is paid by its gifter, who must be one of ours: locked with the recipients (one order)
    statuses = lock_subscribers(ctx, set(msisdns) | {r.gifter for _, r in todo if r.gifter is not None})
    entries = catalog_entries(ctx, {r.service_code for _, r in todo})
    active: set[tuple[str, str]] = set()
    held_before: set[tuple[str, str]] = set()  # a monthly re-order owes this month at confirmation
    for m, code, status in ctx.conn.execute(
        select(Subscription.msisdn, Subscription.service_code, Subscription.status).where(
            Subscription.msisdn.in_(msisdns)
        )
    ):
        held_before.add((m, code))
        if status == "active":
            active.add((m, code))
    pending = _pairs(
        ctx.conn.execute(
            select(Order.msisdn, Order.service_code).where(
                Order.msisdn.in_(msisdns),
                Order.status == "pending",
                Order.expires_at > now,
                Order.recipient.is_(None),  # a gifter's consent to pay is not an order of theirs
            )
        )
    )
    by_ref: dict[tuple[str, str, str], Any] = {}
    refs = sorted({r.external_ref for _, r in todo if r.external_ref is not None})
    if refs:
        for o in ctx.conn.execute(
            select(table_of(Order)).where(Order.msisdn.in_(msisdns), Order.external_ref.in_(refs))
        ).all():
            by_ref[(o.msisdn, o.sp_code, o.external_ref)] = o
    key = code_key(ctx)
    orders: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    mts: list[Mt] = []
    for i, req in todo:
        msisdn, service_code = req.msisdn, req.service_code
        entry = entries.get(service_code)
        if entry is not None and req.sp_code is not None and entry.sp_code != req.sp_code:
            entry = None  # another SP's service: as if it did not exist
        refusal = subscriber_refusal(statuses.get(msisdn)) or order_refusal(
            sp_status=entry.sp_status if entry else None,
            service_status=entry.service_status if entry else None,
            subscribed=(msisdn, service_code) in active,
            pending=(msisdn, service_code) in pending,
        )
        if entry is not None and req.external_ref is not None and (refusal is None or refusal in DUPLICATES):
            # an SP repeating a request (its external_ref) gets its order back, not a duplicate's refusal
            existing = by_ref.get((msisdn, entry.sp_code, req.external_ref))
            if existing is not None:
                if existing.service_code != service_code:
                    results[i] = Conflict(
                        "external_ref was already used for another service", code="external_ref_reused"
                    )
                else:
                    results[i] = placed_order(existing, created=False)
                continue
        if refusal is not None or entry is None:
            results[i] = refused(refusal or Refusal.UNKNOWN_SERVICE, msisdn, service_code, entry)
            continue
        if req.gifter is not None and statuses.get(req.gifter) != "active":
            results[i] = Conflict(
                f"the gifter {mask_msisdn(req.gifter)} is not an active subscriber of this operator; "
                "a gift is paid by its gifter, so only one of ours can give",
                code="gifter_not_subscriber",
            )
            continue
        order_id = new_id()
        gift_half = new_id() if req.gifter is not None else None
        code = new_code(ctx.settings.code_digits)
        row = {
            "msisdn": msisdn,
            "id": order_id,
            "service_code": service_code,
            "sp_code": entry.sp_code,
            "channel": req.channel,
            "gifter": req.gifter,
            "status": "pending",
            "price_fen": entry.facts.price_fen,
            "created_at": now,
            "expires_at": expires_at,
            "code_mac": code_mac(key, msisdn, order_id, code),
            "attempts": 0,
            "external_ref": req.external_ref,
            "actor": req.actor,
            "mo_id": req.mo_id,
            "recipient": None,
            "pair_id": gift_half,
            "consented_at": None,
        }
        orders.append(row)
        pending.add((msisdn, service_code))
        placed = PlacedOrder(
            order_id,
            msisdn,
            service_code,
            entry.sp_code,
            req.channel,
            req.gifter,
            "pending",
            entry.facts.price_fen,
            now,
            expires_at,
        )
        if req.external_ref is not None:
            by_ref[(msisdn, entry.sp_code, req.external_ref)] = placed
        results[i] = placed
        events.append(
            event_row(
                ctx,
                msisdn=msisdn,
                kind=EventKind.ORDER_PLACED,
                service_code=service_code,
                actor=req.actor,
                channel=req.channel,
                order_id=order_id,
                detail={"price_fen": entry.facts.price_fen, "gifter": req.gifter},
            )
        )
        ttl = ctx.settings.code_ttl_minutes
        if req.gifter is not None and gift_half is not None:
            _gifter_half(ctx, req, entry, row, gift_half, key, orders, events, mts)
        mts.append(
            Mt(
                msisdn,
                texts.gift_offer(entry.facts, code, ttl, req.gifter)
                if req.gifter is not None
                else texts.confirmation_request(
                    entry.facts,
                    code,
                    ttl,
                    None,
                    reorder=(msisdn, service_code) in held_before,
                ),
                MessageKind.CONFIRMATION_REQUEST,
                dedupe_key=f"confirm:{order_id}",
                mo_id=req.mo_id,
                fresh_key=True,
            )
        )
    if orders:
        insert_rows(ctx.conn, table_of(Order), orders)
        record_events(ctx, events)
        enqueue_many(ctx, mts)
        # an order placed for a subscriber by staff or an SP is a staff action (issue 16): one
        # entry each, appended with the orders (group commit), so no order stands unrecorded
        staff = [
            audit.Action(
                actor=r["actor"],
                role=role,
                action="order.place",
                subject_msisdn=r["msisdn"],
                detail={"service": r["service_code"], "channel": r["channel"], "order": r["id"]},
            )
            for r in orders
            if r["recipient"] is None and (role := audit.staff_role(r["actor"])) is not None
        ]
        audit.record_many(ctx, staff)


def _gifter_half(
    ctx: Ctx,
    req: OrderRequest,
    entry: CatalogEntry,
    row: dict[str, Any],
    half_id: int,
    key: bytes,
    orders: list[dict[str, Any]],
    events: list[dict[str, Any]],
    mts: list[Mt],
) -> None:
    """The gifter's half of a gift order: a row keyed by the gifter's MSISDN (so their code reply
    is decided like any other, with its own expiry and wrong-code lockout), a code of their own,
    and the price they are asked to pay."""
    gifter = req.gifter
    assert gifter is not None
    code = new_code(ctx.settings.code_digits)
    orders.append(
        dict(
            row,
            msisdn=gifter,
            id=half_id,
            code_mac=code_mac(key, gifter, half_id, code),
            external_ref=None,
            recipient=req.msisdn,
            pair_id=row["id"],
            mo_id=None,
        )
    )
    events.append(
        event_row(
            ctx,
            msisdn=gifter,
            kind=EventKind.ORDER_PLACED,
            service_code=req.service_code,
            actor=req.actor,
            channel=req.channel,
            order_id=half_id,
            detail={"price_fen": entry.facts.price_fen, "pays_for": req.msisdn, "gift_order_id": row["id"]},
        )
    )
    mts.append(
        Mt(
            gifter,
            texts.gift_payment_request(entry.facts, code, ctx.settings.code_ttl_minutes, req.msisdn),
            MessageKind.CONFIRMATION_REQUEST,
            dedupe_key=f"confirm:{half_id}",
            fresh_key=True,
        )
    )


def refused(refusal: Refusal, msisdn: str, service_code: str, entry: CatalogEntry | None) -> MingbaiError:
    """The error an API caller (or SP) gets for a refused order."""
    if refusal is Refusal.UNKNOWN_SUBSCRIBER:
        return unknown_subscriber(msisdn)
    if refusal is Refusal.SUBSCRIBER_INACTIVE:
        return Conflict("subscriber is not active; no order can be placed", code=refusal.value)
    if refusal is Refusal.UNKNOWN_SERVICE or entry is None:
        return NotFound(f"no service with code {service_code!r}", code=Refusal.UNKNOWN_SERVICE.value)
    if refusal is Refusal.SP_SUSPENDED:
        return Conflict(f"SP {entry.sp_code} is suspended and may not take new orders", code=refusal.value)
    if refusal is Refusal.SERVICE_SUSPENDED:
        return Conflict(f"service {service_code} is suspended", code=refusal.value)
    if refusal is Refusal.ALREADY_SUBSCRIBED:
        return Conflict(f"already subscribed to {service_code}", code=refusal.value)
    return Conflict(
        f"an order for {service_code} is already waiting for the subscriber's confirmation", code=refusal.value
    )


def _pairs(rows: Any) -> set[tuple[str, str]]:
    return {(a, b) for a, b in rows}


def placed_order(o: Any, created: bool = True) -> PlacedOrder:
    """A PlacedOrder from an ``Order``, a ``sub_order`` row, or one placed earlier in a batch."""
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
    return placed_order(order)
