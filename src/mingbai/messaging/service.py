"""Outbox and inbox use cases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, true, update

from mingbai.db import Ctx, insert_new, insert_rows, table_of
from mingbai.hashchain import link
from mingbai.ids import new_id
from mingbai.messaging.gateways.base import Gateway
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.models import MoMessage, OutboundSms
from mingbai.messaging.rules import FINAL_STATES, parts_for
from mingbai.sealing import CODE_KINDS, REDACTED, SEALED_SQL, is_sealed

#: an MO longer than this is kept cut, with a mark, rather than refused: nothing is lost
#: that a handset can really send (a concatenated SMS tops out near 255 × 67 units).
MAX_MO_CHARS = 20_000


@dataclass(frozen=True)
class Outgoing:
    """An MT written to the outbox in the current unit of work."""

    msisdn: str
    id: int
    sender: str
    text: str
    kind: str
    segmentation: str
    due_at: datetime
    #: the MO this answers, if any (a batch of MOs shares one unit of work)
    mo_id: int | None = None


@dataclass(frozen=True)
class SentSms:
    sender: str
    to: str
    text: str
    kind: str
    outbox_id: int


@dataclass(frozen=True)
class Mt:
    """One MT to write; see :func:`enqueue` for the fields."""

    msisdn: str
    text: str
    kind: MessageKind
    dedupe_key: str | None = None
    segmentation: str = "concat"
    due_at: datetime | None = None
    mo_id: int | None = None
    sender: str | None = None
    #: the ``dedupe_key`` names a row made in this same transaction (``confirm:<new order id>``),
    #: so it cannot have been used: the row is written without the conflict check (the unique
    #: index still refuses a duplicate, loudly, rather than sending twice)
    fresh_key: bool = False


def enqueue(
    ctx: Ctx,
    *,
    msisdn: str,
    text: str,
    kind: MessageKind,
    dedupe_key: str | None = None,
    segmentation: str = "concat",
    due_at: datetime | None = None,
    mo_id: int | None = None,
    sender: str | None = None,
) -> int | None:
    """Write one MT to the outbox. With a ``dedupe_key`` a second call is a no-op (returns None).

    With an in-process gateway (``ctx.inline_gateway``, the loopback) a message that is due is
    delivered at once and written as delivered: writing and delivering then commit or roll back
    together, without an UPDATE per message. Network gateways are fed by :func:`dispatch_due`
    after the commit, so a crash can never lose a message that was not written.
    """
    return enqueue_many(ctx, [Mt(msisdn, text, kind, dedupe_key, segmentation, due_at, mo_id, sender)])[0]


def enqueue_many(ctx: Ctx, mts: Sequence[Mt]) -> list[int | None]:
    """Write several MTs with one statement per kind of insert; returns each row's id, or None
    where a ``dedupe_key`` was already used (then nothing was written for it)."""
    now = ctx.now()
    inline = ctx.inline_gateway
    rows: list[dict[str, Any]] = []
    parts_of: list[list[str] | None] = []
    for mt in mts:
        due = mt.due_at or now
        parts = parts_for(mt.text, mt.segmentation) if inline is not None and due <= now else None
        parts_of.append(parts)
        rows.append(
            {
                "msisdn": mt.msisdn,
                "id": new_id(),
                "sender": mt.sender or ctx.settings.service_number,
                "text": stored_text(ctx, mt.text, mt.kind, delivered=parts is not None),
                "kind": mt.kind,
                "segmentation": mt.segmentation,
                "dedupe_key": mt.dedupe_key,
                "status": "queued" if parts is None else "delivered",
                "created_at": now,
                "due_at": due,
                "sent_at": None if parts is None else now,
                "parts": None if parts is None else len(parts),
                "mo_id": mt.mo_id,
            }
        )
    plain = [r for r, mt in zip(rows, mts, strict=True) if r["dedupe_key"] is None or mt.fresh_key]
    keyed = [r for r, mt in zip(rows, mts, strict=True) if r["dedupe_key"] is not None and not mt.fresh_key]
    if plain:
        insert_rows(ctx.conn, table_of(OutboundSms), plain)
    written = {r["id"] for r in plain}
    if keyed:
        written.update(insert_new(ctx.conn, OutboundSms.__table__, keyed, ["msisdn", "dedupe_key"], "id"))
    out: list[int | None] = []
    for mt, row, parts in zip(mts, rows, parts_of, strict=True):
        if row["id"] not in written:
            out.append(None)
            continue
        if inline is not None and parts is not None:
            inline.submit(sender=row["sender"], recipient=mt.msisdn, parts=parts, outbox_id=row["id"])
        ctx.enqueued.append(
            Outgoing(mt.msisdn, row["id"], row["sender"], mt.text, mt.kind, mt.segmentation, row["due_at"], mt.mo_id)
        )
        out.append(row["id"])
    return out


def stored_text(ctx: Ctx, text: str, kind: str, *, delivered: bool) -> str:
    """What the outbox keeps of an MT: a one-time code never in clear (``mingbai.sealing``).

    A code-bearing text is sealed until a gateway submits it; one the in-process gateway
    delivers as it is written is kept redacted at once, except in the demo, whose handset page
    shows the phone's screen from the outbox until the code's lifetime ends."""
    if kind not in CODE_KINDS:
        return text
    if delivered and not ctx.settings.demo:
        return REDACTED
    return ctx.settings.sealer.seal(text)


def as_sms(items: list[Outgoing], *, reveal: bool = False) -> list[SentSms]:
    """What a handset receives for these outbox rows: numbered texts arrive as separate SMS.

    A code is shown only with ``reveal`` (the demo, whose CLI prints the phone's screen);
    otherwise a code-bearing text reads :data:`~mingbai.sealing.REDACTED`, so no API answer,
    CLI output or log line built from it carries a code."""
    out: list[SentSms] = []
    for o in items:
        if o.kind in CODE_KINDS and not reveal:
            out.append(SentSms(o.sender, o.msisdn, REDACTED, o.kind, o.id))
            continue
        texts = parts_for(o.text, o.segmentation) if o.segmentation == "numbered" else [o.text]
        out.extend(SentSms(o.sender, o.msisdn, t, o.kind, o.id) for t in texts)
    return out


@dataclass(frozen=True)
class InboundRecord:
    """An MO as kept: what the subscriber actually sent and what we made of it."""

    msisdn: str
    recipient: str
    text: str
    handled_as: str
    mo_id: int
    received_at: datetime


def record_mo(
    ctx: Ctx,
    *,
    msisdn: str,
    recipient: str,
    text: str,
    handled_as: str,
    mo_id: int | None = None,
    received_at: datetime | None = None,
) -> int:
    """Keep an MO as evidence of what the subscriber actually sent (R8 "active use")."""
    mo_id = mo_id or new_id()
    record_mos(ctx, [InboundRecord(msisdn, recipient, text, handled_as, mo_id, received_at or ctx.now())])
    return mo_id


def record_mos(ctx: Ctx, mos: Sequence[InboundRecord]) -> None:
    """The one writer of MOs: each row linked into its sender's hash chain (tamper evidence, R8)."""
    if mos:
        table = table_of(MoMessage)
        rows = [
            {
                "msisdn": m.msisdn,
                "id": m.mo_id,
                "recipient": m.recipient,
                "text": m.text[:MAX_MO_CHARS],
                "received_at": m.received_at,
                "handled_as": m.handled_as,
            }
            for m in mos
        ]
        link(ctx, table, rows)
        insert_rows(ctx.conn, table, rows)


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
    # Citus locks rows only in a single-shard statement: over many subscribers, each row is
    # locked by its own (router) statement below instead
    lock_each = ctx.dialect == "postgresql" and msisdn is None and ctx.citus
    if ctx.dialect == "postgresql" and not lock_each:
        stmt = stmt.with_for_update(skip_locked=True)
    sent: list[SentSms] = []
    for row in ctx.session.execute(stmt).all():
        if lock_each and not _lock_queued(ctx, row.msisdn, row.id):
            continue  # another dispatcher has it
        clear = ctx.settings.sealer.open(row.text)  # a code exists in clear only on its way out
        parts = parts_for(clear, row.segmentation)
        result = gateway.submit(sender=row.sender, recipient=row.msisdn, parts=parts, outbox_id=row.id)
        values: dict[str, Any] = {
            "status": "delivered" if result.delivered else "submitted",
            "sent_at": now,
            "parts": len(parts),
            "gateway_ref": result.ref,
        }
        if row.kind in CODE_KINDS and result.delivered and not ctx.settings.demo:
            values["text"] = REDACTED
        ctx.session.execute(update(table).where(table.msisdn == row.msisdn, table.id == row.id).values(**values))
        shown = clear if row.kind not in CODE_KINDS or ctx.settings.demo else REDACTED
        if row.segmentation == "numbered" and shown is clear:
            items = [SentSms(row.sender, row.msisdn, p, row.kind, row.id) for p in parts]
        else:
            items = [SentSms(row.sender, row.msisdn, shown, row.kind, row.id)]
        for item in items:
            sent.append(item)
            if on_sent:
                on_sent(item)
    return sent


def _lock_queued(ctx: Ctx, msisdn: str, row_id: int) -> bool:
    table = OutboundSms
    return (
        ctx.session.execute(
            select(table.id)
            .where(table.msisdn == msisdn, table.id == row_id, table.status == "queued")
            .with_for_update(skip_locked=True)
        ).first()
        is not None
    )


@dataclass(frozen=True)
class ThreadItem:
    at: datetime
    direction: str  # "mo" or "mt"
    peer: str
    text: str
    kind: str
    status: str


def conversation(ctx: Ctx, msisdn: str, limit: int = 50, *, reveal: bool = False) -> list[ThreadItem]:
    """What the subscriber's phone shows: their MOs and our delivered MTs, oldest first.

    Codes only with ``reveal`` (the demo handset), while their sealed text is kept."""
    mos = ctx.session.execute(
        select(MoMessage).where(MoMessage.msisdn == msisdn).order_by(MoMessage.id.desc()).limit(limit)
    ).scalars()
    mts = ctx.session.execute(
        select(OutboundSms)
        .where(OutboundSms.msisdn == msisdn, OutboundSms.status.in_(("delivered", "submitted")))
        .order_by(OutboundSms.id.desc())
        .limit(limit)
    ).scalars()
    # within one instant (a second, or a fixed demo clock) ids are the order things happened in:
    # ids grow with time, and a reply's id is taken after its MO's
    keyed: list[tuple[datetime, int, int, ThreadItem]] = [
        (m.received_at, m.id, 0, ThreadItem(m.received_at, "mo", m.recipient, m.text, m.handled_as or "", "sent"))
        for m in mos
    ]
    for t in mts:
        at = t.sent_at or t.created_at
        shown = ctx.settings.sealer.open(t.text) if reveal else REDACTED if is_sealed(t.text) else t.text
        for n, part in enumerate(parts_for(shown, t.segmentation) if t.segmentation == "numbered" else [shown]):
            keyed.append((at, t.id, n, ThreadItem(at, "mt", t.sender, part, t.kind, t.status)))
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed[-limit:]]


def redact_spent_codes(ctx: Ctx) -> int:
    """Replace the sealed text of code-bearing rows whose code no longer travels: final rows
    (the demo keeps them for the code's lifetime, for its handset), and rows whose code's
    lifetime is over — those still queued or waiting are not sent any more (status expired).
    Reads only the rows still sealed (partial index ``ix_sms_outbox_sealed``). Idempotent."""
    now = ctx.now()
    lifetime = timedelta(minutes=ctx.settings.code_ttl_minutes)
    T = OutboundSms
    sealed = text(SEALED_SQL)
    dead = T.created_at < now - lifetime
    stale = ctx.session.execute(
        update(T)
        .where(sealed, dead, T.status.in_(("queued", "in_doubt")))
        .values(text=REDACTED, status="expired", error="code_expired", done_at=now, doubt_until=None)
    )
    final = T.status.in_(FINAL_STATES)
    spent = ctx.session.execute(
        update(T).where(sealed, final, dead if ctx.settings.demo else true()).values(text=REDACTED)
    )
    return int(stale.rowcount or 0) + int(spent.rowcount or 0)  # type: ignore[attr-defined]


def outbox_counts(ctx: Ctx) -> dict[str, int]:
    from sqlalchemy import func

    rows = ctx.session.execute(select(OutboundSms.status, func.count()).group_by(OutboundSms.status)).all()
    return {status: int(n) for status, n in rows}
