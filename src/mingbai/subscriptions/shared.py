"""What every subscription use case shares: the one event writer, subscriber locks, the
catalog facts an order needs, the code key, and waves of one message per subscriber.

Every function runs inside the caller's unit of work (never commits).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mingbai.catalog.models import Service, Sp, Subscriber
from mingbai.db import Ctx, insert_rows, shard_groups, table_of
from mingbai.errors import NotFound
from mingbai.hashchain import link
from mingbai.ids import new_id
from mingbai.messaging.rules import waves as waves  # the one definition; the MO intake cuts batches the same way
from mingbai.msisdn import mask_msisdn
from mingbai.subscriptions.events import EventKind
from mingbai.subscriptions.models import SubscriptionEvent
from mingbai.subscriptions.texts import ServiceFacts


def event_row(
    ctx: Ctx,
    *,
    msisdn: str,
    kind: EventKind,
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


def code_key(ctx: Ctx) -> bytes:
    """The MAC key for confirmation codes: configured, or derived from the sealing keys — never
    kept in the database, where it would let a reader try all million codes (issue 12)."""
    if ctx.settings.code_secret:
        return ctx.settings.code_secret.encode()
    return ctx.settings.sealer.mac_key("order-code")


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
    wanted = sorted(set(msisdns))
    if ctx.dialect == "postgresql" and len(wanted) > 1 and ctx.citus:
        # Citus locks rows only in a single-shard statement: one per shard, in shard order
        found: dict[str, str] = {}
        for group in shard_groups(ctx, "subscriber", wanted):
            found.update(_lock_subscribers(ctx, group))
        return found
    return _lock_subscribers(ctx, wanted)


def _lock_subscribers(ctx: Ctx, wanted: list[str]) -> dict[str, str]:
    stmt = select(Subscriber.msisdn, Subscriber.status).where(Subscriber.msisdn.in_(wanted)).order_by(Subscriber.msisdn)
    if ctx.dialect == "postgresql":
        stmt = stmt.with_for_update()
    return {m: status for m, status in ctx.conn.execute(stmt).all()}


def unknown_subscriber(msisdn: str) -> NotFound:
    return NotFound(f"no subscriber {mask_msisdn(msisdn)}", code="unknown_subscriber")


def lock_subscriber(ctx: Ctx, msisdn: str) -> str:
    """Lock one subscriber's row (see :func:`lock_subscribers`) and return its status."""
    status = lock_subscribers(ctx, [msisdn]).get(msisdn)
    if status is None:
        raise unknown_subscriber(msisdn)
    return status
