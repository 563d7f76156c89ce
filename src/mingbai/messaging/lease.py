"""The gateway lease: one submitting run at a time.

Two SMPP runs claiming the same outbox would each be sure a row is theirs; the lease (a row
with a holder and an expiry, renewed by the holder's housekeeping) keeps it to one. A run that
dies simply stops renewing: the lease lapses after its ``ttl`` and the next run takes it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, update

from mingbai.db import Ctx, insert_ignore
from mingbai.messaging.models import SmsGatewayLease


def acquire_lease(ctx: Ctx, *, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease; False while another live holder has it."""
    now = ctx.now()
    got = ctx.session.execute(
        update(SmsGatewayLease)
        .where(
            SmsGatewayLease.name == name,
            or_(SmsGatewayLease.holder == holder, SmsGatewayLease.expires_at <= now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    if int(got.rowcount or 0):  # type: ignore[attr-defined]
        return True
    inserted = insert_ignore(
        ctx.session,
        SmsGatewayLease.__table__,
        [{"name": name, "holder": holder, "acquired_at": now, "expires_at": now + ttl}],
        ["name"],
    )
    return inserted == 1


def release_lease(ctx: Ctx, *, name: str, holder: str) -> None:
    ctx.session.execute(delete(SmsGatewayLease).where(SmsGatewayLease.name == name, SmsGatewayLease.holder == holder))
