"""Outbox and inbox use cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from mingbai.db import Ctx, insert_ignore
from mingbai.ids import new_id
from mingbai.messaging.gateways.base import Gateway
from mingbai.messaging.models import MoMessage, OutboundSms
from mingbai.messaging.rules import parts_for

#: an MO longer than this is kept cut, with a mark, rather than refused: nothing is lost
#: that a handset can really send (a concatenated SMS tops out near 255 × 67 units).
MAX_MO_CHARS = 20_000


@dataclass(frozen=True)
class SentSms:
    sender: str
    to: str
    text: str
    kind: str
    outbox_id: int


def enqueue(
    ctx: Ctx,
    *,
    msisdn: str,
    text: str,
    kind: str,
    dedupe_key: str | None = None,
    segmentation: str = "concat",
    due_at: datetime | None = None,
    mo_id: int | None = None,
    sender: str | None = None,
) -> int | None:
    """Write one MT to the outbox. With a ``dedupe_key`` a second call is a no-op (returns None)."""
    now = ctx.now()
    row_id = new_id()
    row = {
        "msisdn": msisdn,
        "id": row_id,
        "sender": sender or ctx.settings.service_number,
        "text": text,
        "kind": kind,
        "segmentation": segmentation,
        "dedupe_key": dedupe_key,
        "status": "queued",
        "created_at": now,
        "due_at": due_at or now,
        "mo_id": mo_id,
    }
    if dedupe_key is None:
        ctx.session.execute(insert(OutboundSms), row)
        return row_id
    inserted = insert_ignore(ctx.session, OutboundSms.__table__, [row], ["msisdn", "dedupe_key"])
    return row_id if inserted else None


def record_mo(ctx: Ctx, *, msisdn: str, recipient: str, text: str) -> int:
    mo_id = new_id()
    ctx.session.execute(
        insert(MoMessage),
        {
            "msisdn": msisdn,
            "id": mo_id,
            "recipient": recipient,
            "text": text[:MAX_MO_CHARS],
            "received_at": ctx.now(),
        },
    )
    return mo_id


def mark_mo(ctx: Ctx, *, msisdn: str, mo_id: int, handled_as: str) -> None:
    ctx.session.execute(
        update(MoMessage).where(MoMessage.msisdn == msisdn, MoMessage.id == mo_id).values(handled_as=handled_as)
    )


def dispatch_due(
    ctx: Ctx,
    gateway: Gateway,
    *,
    limit: int = 500,
    msisdn: str | None = None,
    on_sent: Callable[[SentSms], None] | None = None,
) -> list[SentSms]:
    """Submit queued MTs that are due, oldest first, and record what the gateway said.

    On PostgreSQL concurrent dispatchers skip each other's rows (SKIP LOCKED).
    """
    now = ctx.now()
    table = OutboundSms
    stmt = (
        select(table.msisdn, table.id, table.sender, table.text, table.kind, table.segmentation)
        .where(table.status == "queued", table.due_at <= now)
        .order_by(table.due_at, table.id)
        .limit(limit)
    )
    if msisdn is not None:
        stmt = stmt.where(table.msisdn == msisdn)
    if ctx.dialect == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    sent: list[SentSms] = []
    for row in ctx.session.execute(stmt).all():
        parts = parts_for(row.text, row.segmentation)
        result = gateway.submit(sender=row.sender, recipient=row.msisdn, parts=parts, outbox_id=row.id)
        ctx.session.execute(
            update(table)
            .where(table.msisdn == row.msisdn, table.id == row.id)
            .values(
                status="delivered" if result.delivered else "submitted",
                sent_at=now,
                parts=len(parts),
                gateway_ref=result.ref,
            )
        )
        if row.segmentation == "numbered":
            items = [SentSms(row.sender, row.msisdn, p, row.kind, row.id) for p in parts]
        else:
            items = [SentSms(row.sender, row.msisdn, row.text, row.kind, row.id)]
        for item in items:
            sent.append(item)
            if on_sent:
                on_sent(item)
    return sent


@dataclass(frozen=True)
class ThreadItem:
    at: datetime
    direction: str  # "mo" or "mt"
    peer: str
    text: str
    kind: str
    status: str


def conversation(ctx: Ctx, msisdn: str, limit: int = 50) -> list[ThreadItem]:
    """What the subscriber's phone shows: their MOs and our delivered MTs, oldest first."""
    mos = ctx.session.execute(
        select(MoMessage).where(MoMessage.msisdn == msisdn).order_by(MoMessage.id.desc()).limit(limit)
    ).scalars()
    mts = ctx.session.execute(
        select(OutboundSms)
        .where(OutboundSms.msisdn == msisdn, OutboundSms.status.in_(("delivered", "submitted")))
        .order_by(OutboundSms.id.desc())
        .limit(limit)
    ).scalars()
    items: list[ThreadItem] = [
        ThreadItem(m.received_at, "mo", m.recipient, m.text, m.handled_as or "", "sent") for m in mos
    ]
    for t in mts:
        for part in parts_for(t.text, t.segmentation) if t.segmentation == "numbered" else [t.text]:
            items.append(ThreadItem(t.sent_at or t.created_at, "mt", t.sender, part, t.kind, t.status))
    items.sort(key=lambda i: (i.at, 0 if i.direction == "mo" else 1))
    return items[-limit:]


def outbox_counts(ctx: Ctx) -> dict[str, int]:
    from sqlalchemy import func

    rows = ctx.session.execute(select(OutboundSms.status, func.count()).group_by(OutboundSms.status)).all()
    return {status: int(n) for status, n in rows}
