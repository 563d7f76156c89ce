"""Subscription use cases: place an order, decide a code reply, unsubscribe, query.

Every function runs inside the caller's unit of work (never commits), locks the
subscriber's row first when it changes anything of theirs (so concurrent SMS, API calls and
the scheduler serialise per MSISDN), and appends an event for every state change.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, select, update

from mingbai.catalog.models import Service, Sp, Subscriber
from mingbai.catalog.rules import reminder_label
from mingbai.db import Ctx, insert_ignore, insert_rows, table_of, upsert
from mingbai.disputes.chain import link
from mingbai.errors import Conflict, InvalidInput, MingbaiError, NotFound
from mingbai.ids import new_id
from mingbai.messaging.service import Mt, enqueue, enqueue_many
from mingbai.msisdn import mask_msisdn, normalize_msisdn
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
    """The one way subscription and order changes are written down (append-only), each row
    linked into its subscriber's hash chain (tamper evidence, R8)."""
    if rows:
        table = table_of(SubscriptionEvent)
        link(ctx, table, rows)
        insert_rows(ctx.conn, table, rows)


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


def catalog_entries(ctx: Ctx, service_codes: Collection[str]) -> dict[str, CatalogEntry]:
    """The catalog facts of these services (unknown codes are simply absent)."""
    rows = ctx.conn.execute(
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
        .where(Service.code.in_(sorted(set(service_codes))))
    ).all()
    return {
        code: CatalogEntry(
            ServiceFacts(code, name, type_, billing, price, sp_name, hotline), sp_code, status, sp_status
        )
        for code, name, type_, billing, price, status, sp_code, sp_name, hotline, sp_status in rows
    }


def catalog_entry(ctx: Ctx, service_code: str) -> CatalogEntry:
    entry = catalog_entries(ctx, [service_code]).get(service_code)
    if entry is None:
        raise NotFound(f"no service with code {service_code!r}", code="unknown_service")
    return entry


def lock_subscribers(ctx: Ctx, msisdns: Collection[str]) -> dict[str, str]:
    """Lock these subscribers' rows and return their statuses (unknown numbers are absent).

    Every change to a subscriber goes through here, so concurrent SMS, API calls, batches and the
    scheduler serialise per MSISDN; rows are locked in MSISDN order, so two batches that share
    subscribers wait for each other instead of deadlocking."""
    stmt = (
        select(Subscriber.msisdn, Subscriber.status)
        .where(Subscriber.msisdn.in_(sorted(set(msisdns))))
        .order_by(Subscriber.msisdn)
    )
    if ctx.dialect == "postgresql":
        stmt = stmt.with_for_update()
    return {m: status for m, status in ctx.conn.execute(stmt).all()}


def _unknown_subscriber(msisdn: str) -> NotFound:
    return NotFound(f"no subscriber {mask_msisdn(msisdn)}", code="unknown_subscriber")


def lock_subscriber(ctx: Ctx, msisdn: str) -> str:
    """Lock one subscriber's row (see :func:`lock_subscribers`) and return its status."""
    status = lock_subscribers(ctx, [msisdn]).get(msisdn)
    if status is None:
        raise _unknown_subscriber(msisdn)
    return status


def waves(keys: Sequence[str]) -> list[list[int]]:
    """Split positions into waves holding each key at most once, keeping each key's order: a
    batch handles one message per subscriber at a time, so a later one sees what an earlier did."""
    out: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        wave = seen.get(key, -1) + 1
        seen[key] = wave
        if wave == len(out):
            out.append([])
        out[wave].append(i)
    return out


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
    statuses = lock_subscribers(ctx, msisdns)
    entries = catalog_entries(ctx, {r.service_code for _, r in todo})
    active = _pairs(
        ctx.conn.execute(
            select(Subscription.msisdn, Subscription.service_code).where(
                Subscription.msisdn.in_(msisdns), Subscription.status == "active"
            )
        )
    )
    pending = _pairs(
        ctx.conn.execute(
            select(Order.msisdn, Order.service_code).where(
                Order.msisdn.in_(msisdns), Order.status == "pending", Order.expires_at > now
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
        refused: MingbaiError | None = None
        status = statuses.get(msisdn)
        if status is None:
            refused = _unknown_subscriber(msisdn)
        elif status != "active":
            refused = Conflict("subscriber is not active; no order can be placed", code="subscriber_inactive")
        elif entry is None or (req.sp_code is not None and entry.sp_code != req.sp_code):
            # another SP's service: as if it did not exist
            refused = NotFound(f"no service with code {service_code!r}", code="unknown_service")
        elif entry.sp_status != "active":
            refused = Conflict(f"SP {entry.sp_code} is suspended and may not take new orders", code="sp_suspended")
        elif entry.service_status != "active":
            refused = Conflict(f"service {service_code} is suspended", code="service_suspended")
        if refused is not None or entry is None:
            results[i] = refused
            continue
        if req.external_ref is not None:
            existing = by_ref.get((msisdn, entry.sp_code, req.external_ref))
            if existing is not None:
                if existing.service_code != service_code:
                    results[i] = Conflict(
                        "external_ref was already used for another service", code="external_ref_reused"
                    )
                else:
                    results[i] = _placed(existing, created=False)
                continue
        if (msisdn, service_code) in active:
            results[i] = Conflict(f"already subscribed to {service_code}", code="already_subscribed")
            continue
        if (msisdn, service_code) in pending:
            results[i] = Conflict(
                f"an order for {service_code} is already waiting for the subscriber's confirmation",
                code="pending_exists",
            )
            continue
        order_id = new_id()
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
                kind="order_placed",
                service_code=service_code,
                actor=req.actor,
                channel=req.channel,
                order_id=order_id,
                detail={"price_fen": entry.facts.price_fen, "gifter": req.gifter},
            )
        )
        mts.append(
            Mt(
                msisdn,
                texts.confirmation_request(entry.facts, code, ctx.settings.code_ttl_minutes, req.gifter),
                "confirmation_request",
                dedupe_key=f"confirm:{order_id}",
                mo_id=req.mo_id,
                fresh_key=True,
            )
        )
    if orders:
        insert_rows(ctx.conn, table_of(Order), orders)
        record_events(ctx, events)
        enqueue_many(ctx, mts)


def _pairs(rows: Any) -> set[tuple[str, str]]:
    return {(a, b) for a, b in rows}


def _placed(o: Any, created: bool = True) -> PlacedOrder:
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
    return _placed(order)


# -- code replies --------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeOutcome:
    verdict: str  # confirmed | expired | wrong | locked | no_pending | refused
    subscription_id: int | None = None


@dataclass(frozen=True)
class CodeReply:
    msisdn: str
    code: str
    mo_id: int | None = None


def reply_code(ctx: Ctx, *, msisdn: str, code: str, mo_id: int | None = None) -> CodeOutcome:
    """Decide a code the subscriber sent to 10086 and answer it by SMS."""
    result = reply_codes(ctx, [CodeReply(msisdn, code, mo_id)])[0]
    if isinstance(result, MingbaiError):
        raise result
    return result


def reply_codes(ctx: Ctx, replies: Sequence[CodeReply]) -> list[CodeOutcome | MingbaiError]:
    """Decide many code replies with a fixed number of statements per wave, and answer each.

    Replies from one subscriber are decided one after another (see :func:`waves`), so a
    second reply sees what the first did. An unknown subscriber gets its error, nothing else.
    """
    results: list[CodeOutcome | MingbaiError | None] = [None] * len(replies)
    for wave in waves([r.msisdn for r in replies]):
        _decide_codes(ctx, [(i, replies[i]) for i in wave], results)
    return [r for r in results if r is not None]


def _decide_codes(
    ctx: Ctx, todo: list[tuple[int, CodeReply]], results: list[CodeOutcome | MingbaiError | None]
) -> None:
    now = ctx.now()
    statuses = lock_subscribers(ctx, [r.msisdn for _, r in todo])
    known = [(i, r) for i, r in todo if r.msisdn in statuses]
    for i, r in todo:
        if r.msisdn not in statuses:
            results[i] = _unknown_subscriber(r.msisdn)
    if not known:
        return
    recent: dict[str, list[Any]] = {}
    for o in ctx.conn.execute(
        select(table_of(Order)).where(
            Order.msisdn.in_(sorted({r.msisdn for _, r in known})),
            Order.status.in_(("pending", "expired")),
            Order.created_at > now - CODE_LOOKBACK,
        )
    ).all():
        recent.setdefault(o.msisdn, []).append(o)
    key = code_key(ctx)
    confirm: list[tuple[int, CodeReply, Any]] = []
    late: list[tuple[int, CodeReply, Any]] = []
    wrong: list[tuple[int, CodeReply, list[Any]]] = []
    mts: list[Mt] = []
    events: list[dict[str, Any]] = []
    for i, r in known:
        orders = recent.get(r.msisdn, [])
        candidates = [CodeCandidate(o.id, o.status, o.expires_at, o.code_mac, o.attempts) for o in orders]
        decision = decide_code_reply(key, r.msisdn, r.code, candidates, now)
        matched = next((o for o in orders if o.id == decision.order_id), None)
        if decision.verdict is CodeVerdict.CONFIRM:
            confirm.append((i, r, matched))
        elif decision.verdict is CodeVerdict.EXPIRED:
            late.append((i, r, matched))
        elif decision.verdict is CodeVerdict.NO_PENDING:
            mts.append(Mt(r.msisdn, texts.no_pending(), "reply", mo_id=r.mo_id))
            results[i] = CodeOutcome("no_pending")
        else:
            live = [o for o in orders if o.status == "pending" and o.expires_at > now]
            wrong.append((i, r, live))
    entries = catalog_entries(ctx, {o.service_code for _, _, o in confirm + late})
    for i, r, order in late:
        events.append(_code_event(ctx, r, order, "late_code"))
        mts.append(Mt(r.msisdn, texts.code_expired(entries[order.service_code].facts), "reply", mo_id=r.mo_id))
        results[i] = CodeOutcome("expired")
    if wrong:
        _count_wrong(ctx, wrong, results, events, mts)
    if confirm:
        _confirm(ctx, confirm, entries, results, events, mts)
    record_events(ctx, events)
    enqueue_many(ctx, mts)


def _code_event(ctx: Ctx, r: CodeReply, order: Any, kind: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    return event_row(
        ctx,
        msisdn=r.msisdn,
        kind=kind,
        service_code=order.service_code,
        actor=f"subscriber:{r.msisdn}",
        channel="sms",
        order_id=order.id,
        detail=detail,
    )


def _set_orders(ctx: Ctx, changes: list[dict[str, Any]]) -> None:
    """Decide pending orders, one row each: ``{"m", "i", "v_status", "v_attempts", "v_decided"}``."""
    if changes:
        ctx.conn.execute(
            update(Order)
            .where(Order.msisdn == bindparam("m"), Order.id == bindparam("i"), Order.status == "pending")
            .values(status=bindparam("v_status"), attempts=bindparam("v_attempts"), decided_at=bindparam("v_decided")),
            changes,
        )


def _count_wrong(
    ctx: Ctx,
    wrong: list[tuple[int, CodeReply, list[Any]]],
    results: list[CodeOutcome | MingbaiError | None],
    events: list[dict[str, Any]],
    mts: list[Mt],
) -> None:
    """A wrong code counts against every order still waiting, so many guesses cannot find one."""
    limit = ctx.settings.max_code_attempts
    changes: list[dict[str, Any]] = []
    for i, r, live in wrong:
        locked = False
        left = limit
        for order in live:
            attempts = order.attempts + 1
            failed = attempts >= limit
            changes.append(
                {
                    "m": r.msisdn,
                    "i": order.id,
                    "v_status": "failed" if failed else "pending",
                    "v_attempts": attempts,
                    "v_decided": ctx.now() if failed else None,
                }
            )
            events.append(
                _code_event(ctx, r, order, "code_locked" if failed else "code_rejected", {"attempts": attempts})
            )
            locked = locked or failed
            left = min(left, limit - attempts)
        mts.append(Mt(r.msisdn, texts.code_locked() if locked else texts.code_wrong(left), "reply", mo_id=r.mo_id))
        results[i] = CodeOutcome("locked" if locked else "wrong")
    _set_orders(ctx, changes)


def _confirm(
    ctx: Ctx,
    confirm: list[tuple[int, CodeReply, Any]],
    entries: dict[str, CatalogEntry],
    results: list[CodeOutcome | MingbaiError | None],
    events: list[dict[str, Any]],
    mts: list[Mt],
) -> None:
    """The right code in time: the order becomes a subscription, unless the catalog or the
    subscriber's own state refuses it now; each order is "sub_order" row."""
    now = ctx.now()
    held: dict[tuple[str, str], bool] = {}  # (msisdn, service) -> active?
    for m, code, status in ctx.conn.execute(
        select(Subscription.msisdn, Subscription.service_code, Subscription.status).where(
            Subscription.msisdn.in_(sorted({r.msisdn for _, r, _ in confirm})),
            Subscription.service_code.in_(sorted({o.service_code for _, _, o in confirm})),
        )
    ).all():
        held[(m, code)] = held.get((m, code), False) or status == "active"
    refused: list[dict[str, Any]] = []
    accepted: list[tuple[int, CodeReply, Any]] = []
    for i, r, order in confirm:
        entry = entries[order.service_code]
        refusal = None
        if entry.sp_status != "active":
            refusal = "该业务提供商已暂停受理新订购"
        elif entry.service_status != "active":
            refusal = "该业务已暂停受理"
        elif held.get((r.msisdn, order.service_code)):
            refusal = "您已订购该业务"
        if refusal is None:
            accepted.append((i, r, order))
            continue
        refused.append(
            {"m": r.msisdn, "i": order.id, "v_status": "failed", "v_attempts": order.attempts, "v_decided": now}
        )
        events.append(_code_event(ctx, r, order, "order_refused", {"reason": refusal}))
        mts.append(Mt(r.msisdn, texts.order_refused(refusal), "reply", mo_id=r.mo_id))
        results[i] = CodeOutcome("refused")
    _set_orders(ctx, refused)
    if not accepted:
        return
    won = set(
        ctx.conn.execute(
            update(Order)
            .where(
                Order.msisdn.in_(sorted({r.msisdn for _, r, _ in accepted})),
                Order.id.in_([o.id for _, _, o in accepted]),
                Order.status == "pending",
            )
            # each order names the MO that carried its code: the consent evidence (R8)
            .values(
                status="confirmed",
                decided_at=now,
                confirm_mo_id=case(
                    {o.id: r.mo_id for _, r, o in accepted if r.mo_id is not None}, value=Order.id, else_=None
                )
                if any(r.mo_id is not None for _, r, _ in accepted)
                else None,
            )
            .returning(Order.id)
        ).scalars()
    )
    subscriptions: list[dict[str, Any]] = []
    for i, r, order in accepted:
        entry = entries[order.service_code]
        if order.id not in won:
            # decided meanwhile (expired by the scheduler): answer as a late code
            mts.append(Mt(r.msisdn, texts.code_expired(entry.facts), "reply", mo_id=r.mo_id))
            results[i] = CodeOutcome("expired")
            continue
        first_order = (r.msisdn, order.service_code) not in held
        billing = entry.facts.billing
        first_charge = first_charge_on(billing, now, first_order=first_order)
        in_trial = billing == "monthly" and first_order
        sub_id = new_id()
        subscriptions.append(
            {
                "msisdn": r.msisdn,
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
            }
        )
        detail = {
            "trial": in_trial,
            "first_charge_on": first_charge.isoformat() if first_charge else None,
            "price_fen": order.price_fen,
        }
        actor = f"subscriber:{r.msisdn}"
        events.append(
            event_row(
                ctx,
                msisdn=r.msisdn,
                kind="order_confirmed",
                service_code=order.service_code,
                actor=actor,
                channel="sms",
                order_id=order.id,
                subscription_id=sub_id,
            )
        )
        events.append(
            event_row(
                ctx,
                msisdn=r.msisdn,
                kind="subscribed",
                service_code=order.service_code,
                actor=actor,
                channel=order.channel,
                order_id=order.id,
                subscription_id=sub_id,
                detail=detail,
            )
        )
        facts = ServiceFacts(**{**entry.facts.__dict__, "price_fen": order.price_fen})
        mts.append(
            Mt(
                r.msisdn,
                texts.order_reminder(facts, trial_wording(first_charge, now, in_trial=in_trial)),
                "order_reminder",
                dedupe_key=f"ordered:{sub_id}",
                mo_id=r.mo_id,
                fresh_key=True,
            )
        )
        results[i] = CodeOutcome("confirmed", sub_id)
    if subscriptions:
        insert_rows(ctx.conn, table_of(Subscription), subscriptions)


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


#: built once: "0000" is the most frequent SMS there is, and building the statement per call
#: cost more Python than running it
_MENU = (
    select(Subscription.id, Subscription.billing, Subscription.price_fen, Service.name, Service.type, Sp.name)
    .join(Service, Service.code == Subscription.service_code)
    .join(Sp, Sp.code == Subscription.sp_code)
    .where(Subscription.msisdn == bindparam("msisdn"), Subscription.status == "active")
    .order_by(Subscription.confirmed_at, Subscription.id)
)


def _active_for_menu(ctx: Ctx, msisdn: str) -> list[tuple[int, str]]:
    rows = ctx.conn.execute(_MENU, {"msisdn": msisdn}).all()
    return [(r[0], reminder_label(r[5], r[3], r[4], r[1], r[2])) for r in rows]


def query(ctx: Ctx, *, msisdn: str, mo_id: int | None = None) -> str:
    """Reply to "0000": the numbered list, remembered so the next reply can pick by number."""
    items = _active_for_menu(ctx, msisdn)
    now = ctx.now()
    upsert(
        ctx.conn,
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
