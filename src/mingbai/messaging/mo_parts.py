"""Concatenated MOs: the parts of a long SMS, kept until all have arrived.

An SMSC delivers a long MO as parts that share a reference (UDH). Each part is stored as it
comes (a retried deliver_sm stores nothing twice); the last one returns the whole text, and
the parts are dropped in the unit of work that handles the MO, so it is neither lost nor
handled twice. Parts whose siblings never come are handled as they are after a while
(:func:`stale_mo_parts`, gaps marked "…").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from mingbai.db import Ctx, insert_ignore
from mingbai.messaging.models import SmsMoPart


def store_mo_part(
    ctx: Ctx, *, msisdn: str, recipient: str, ref: int, total: int, seq: int, text: str
) -> list[str] | None:
    """Keep one part; return every part's text in order once all ``total`` are here."""
    insert_ignore(
        ctx.session,
        SmsMoPart.__table__,
        [
            {
                "msisdn": msisdn,
                "recipient": recipient,
                "ref": ref,
                "total": total,
                "seq": seq,
                "text": text,
                "received_at": ctx.now(),
            }
        ],
        ["msisdn", "recipient", "ref", "total", "seq"],
    )
    got = ctx.session.execute(
        select(SmsMoPart.seq, SmsMoPart.text)
        .where(
            SmsMoPart.msisdn == msisdn,
            SmsMoPart.recipient == recipient,
            SmsMoPart.ref == ref,
            SmsMoPart.total == total,
        )
        .order_by(SmsMoPart.seq)
    ).all()
    if len(got) < total:
        return None
    return [g.text for g in got]


def drop_mo_parts(ctx: Ctx, *, msisdn: str, recipient: str, ref: int, total: int) -> None:
    ctx.session.execute(
        delete(SmsMoPart).where(
            SmsMoPart.msisdn == msisdn,
            SmsMoPart.recipient == recipient,
            SmsMoPart.ref == ref,
            SmsMoPart.total == total,
        )
    )


@dataclass(frozen=True)
class StaleMo:
    msisdn: str
    recipient: str
    ref: int
    total: int
    text: str


def stale_mo_parts(ctx: Ctx, *, older_than: timedelta) -> list[StaleMo]:
    """Concatenated MOs whose missing parts never came: what we have, gaps marked "…"."""
    cutoff = ctx.now() - older_than
    groups = ctx.session.execute(
        select(SmsMoPart.msisdn, SmsMoPart.recipient, SmsMoPart.ref, SmsMoPart.total)
        .group_by(SmsMoPart.msisdn, SmsMoPart.recipient, SmsMoPart.ref, SmsMoPart.total)
        .having(func.max(SmsMoPart.received_at) <= cutoff)
        .limit(100)
    ).all()
    out: list[StaleMo] = []
    for g in groups:
        parts = dict(
            ctx.session.execute(
                select(SmsMoPart.seq, SmsMoPart.text).where(
                    SmsMoPart.msisdn == g.msisdn,
                    SmsMoPart.recipient == g.recipient,
                    SmsMoPart.ref == g.ref,
                    SmsMoPart.total == g.total,
                )
            ).all()
        )
        text = "".join(parts.get(i, "…") for i in range(1, g.total + 1))
        out.append(StaleMo(g.msisdn, g.recipient, g.ref, g.total, text))
    return out
