"""Ending subscriptions, and the "0000" query with its numbered menu.

Runs inside the caller's unit of work (never commits); locks the subscriber first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, bindparam, select, update

from mingbai.audit import service as audit
from mingbai.catalog.models import Service, Sp
from mingbai.catalog.rules import reminder_label
from mingbai.db import Ctx, upsert
from mingbai.errors import InvalidInput
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import enqueue
from mingbai.msisdn import normalize_msisdn
from mingbai.subscriptions import texts
from mingbai.subscriptions.events import EventKind
from mingbai.subscriptions.models import Subscription, UnsubscribeMenu
from mingbai.subscriptions.rules import (
    CHANNELS,
)
from mingbai.subscriptions.shared import catalog_entry, lock_subscriber, record_event
from mingbai.subscriptions.texts import ServiceFacts

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
            kind=EventKind.UNSUBSCRIBED,
            service_code=row.service_code,
            actor=actor,
            channel=channel,
            subscription_id=row.id,
        )
        facts.append(catalog_entry(ctx, row.service_code).facts)
    enqueue(
        ctx,
        msisdn=msisdn,
        kind=MessageKind.UNSUBSCRIBE_CONFIRMATION,
        dedupe_key=f"unsub:{ended[0].id}",
        text=texts.unsubscribed(facts),
        mo_id=mo_id,
    )
    audit.record_staff(
        ctx,
        actor=actor,
        action="subscription.unsubscribe",
        subject_msisdn=msisdn,
        detail={"services": [r.service_code for r in ended], "channel": channel},
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
    enqueue(ctx, msisdn=msisdn, kind=MessageKind.QUERY_REPLY, text=text, mo_id=mo_id)
    return text


def choose_from_menu(ctx: Ctx, *, msisdn: str, numbers: Sequence[int], mo_id: int | None = None) -> str:
    lock_subscriber(ctx, msisdn)
    menu = ctx.session.get(UnsubscribeMenu, msisdn)
    ttl = timedelta(minutes=ctx.settings.menu_ttl_minutes)
    if menu is None or menu.issued_at + ttl < ctx.now():
        enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.menu_missing(), mo_id=mo_id)
        return "menu_missing"
    ids = list(menu.subscription_ids)
    bad = [n for n in numbers if n > len(ids)]
    if bad:
        enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.menu_out_of_range(bad, len(ids)), mo_id=mo_id)
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
        enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.menu_stale(numbers), mo_id=mo_id)
        return "menu_stale"
    return "unsubscribe"
