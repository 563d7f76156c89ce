"""Code replies (动态二次确认): confirm, expired, wrong (and the lockout) or nothing pending.

Runs inside the caller's unit of work (never commits); locks the subscribers first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, case, select, update

from mingbai.db import Ctx, insert_rows, table_of
from mingbai.errors import MingbaiError
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import Mt, enqueue_many
from mingbai.subscriptions import texts
from mingbai.subscriptions.events import EventKind
from mingbai.subscriptions.models import Order, Subscription
from mingbai.subscriptions.rules import (
    CodeCandidate,
    CodeVerdict,
    count_wrong_code,
    decide_code_reply,
    first_charge_on,
    order_refusal,
    trial_wording,
)
from mingbai.subscriptions.shared import (
    CatalogEntry,
    catalog_entries,
    code_key,
    event_row,
    lock_subscribers,
    record_events,
    unknown_subscriber,
    waves,
)
from mingbai.subscriptions.texts import ServiceFacts

#: how far back a code reply is matched against orders (to say "expired" rather than "unknown")
CODE_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class CodeOutcome:
    #: confirmed | expired | wrong | locked | no_pending | refused | awaiting_other (a gift's side)
    verdict: str
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
            results[i] = unknown_subscriber(r.msisdn)
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
        # a gift half already confirmed waits for the other side: neither waiting for a code nor
        # counted against by a wrong one, but its own code, sent again, is recognised
        candidates = [
            CodeCandidate(o.id, "consented" if o.consented_at else o.status, o.expires_at, o.code_mac, o.attempts)
            for o in orders
        ]
        decision = decide_code_reply(key, r.msisdn, r.code, candidates, now)
        matched = next((o for o in orders if o.id == decision.order_id), None)
        if (
            decision.verdict is CodeVerdict.EXPIRED
            and matched is not None
            and matched.consented_at is not None
            and matched.status == "pending"
            and matched.expires_at > now
        ):
            confirm.append((i, r, matched))  # said again: the gift still waits for the other side
        elif decision.verdict is CodeVerdict.CONFIRM:
            confirm.append((i, r, matched))
        elif decision.verdict is CodeVerdict.EXPIRED:
            late.append((i, r, matched))
        elif decision.verdict is CodeVerdict.NO_PENDING:
            mts.append(Mt(r.msisdn, texts.no_pending(), MessageKind.REPLY, mo_id=r.mo_id))
            results[i] = CodeOutcome("no_pending")
        else:
            live = [o for o in orders if o.status == "pending" and o.expires_at > now and o.consented_at is None]
            wrong.append((i, r, live))
    entries = catalog_entries(
        ctx, {o.service_code for _, _, o in confirm + late} | {o.service_code for _, _, live in wrong for o in live}
    )
    for i, r, order in late:
        events.append(_code_event(ctx, r, order, EventKind.LATE_CODE))
        mts.append(
            Mt(r.msisdn, texts.code_expired(entries[order.service_code].facts), MessageKind.REPLY, mo_id=r.mo_id)
        )
        results[i] = CodeOutcome("expired")
    if wrong:
        _count_wrong(ctx, wrong, results, events, mts, entries)
    if confirm:
        _confirm(ctx, confirm, entries, results, events, mts)
    record_events(ctx, events)
    enqueue_many(ctx, mts)


def _code_event(
    ctx: Ctx, r: CodeReply, order: Any, kind: EventKind, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
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
    entries: dict[str, CatalogEntry],
) -> None:
    """A wrong code counts against every order still waiting (:func:`rules.count_wrong_code`),
    and the answer names them: with several waiting, the subscriber learns which it counted against."""
    changes: list[dict[str, Any]] = []
    for i, r, live in wrong:
        counted = count_wrong_code([o.attempts for o in live], ctx.settings.max_code_attempts)
        for order, attempts, failed in zip(live, counted.attempts, counted.failed, strict=True):
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
                _code_event(
                    ctx, r, order, EventKind.CODE_LOCKED if failed else EventKind.CODE_REJECTED, {"attempts": attempts}
                )
            )
        # in the order they were placed: the database returns waiting orders in no set order
        named = [entries[o.service_code].facts for o in sorted(live, key=lambda o: o.id)]
        text = texts.code_locked(named) if counted.locked else texts.code_wrong(counted.left, named)
        mts.append(Mt(r.msisdn, text, MessageKind.REPLY, mo_id=r.mo_id))
        results[i] = CodeOutcome("locked" if counted.locked else "wrong")
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
    gifts = [c for c in confirm if c[2].pair_id is not None]
    if gifts:
        _confirm_gifts(ctx, gifts, entries, results, events, mts)
        confirm = [c for c in confirm if c[2].pair_id is None]
        if not confirm:
            return
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
        refusal = order_refusal(
            sp_status=entry.sp_status,
            service_status=entry.service_status,
            subscribed=held.get((r.msisdn, order.service_code), False),
        )
        if refusal is None:
            accepted.append((i, r, order))
            continue
        refused.append(
            {"m": r.msisdn, "i": order.id, "v_status": "failed", "v_attempts": order.attempts, "v_decided": now}
        )
        reason = texts.refusal_reason(refusal)
        events.append(_code_event(ctx, r, order, EventKind.ORDER_REFUSED, {"reason": reason}))
        mts.append(Mt(r.msisdn, texts.order_refused(reason), MessageKind.REPLY, mo_id=r.mo_id))
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
                # the searched form (CASE WHEN id = …): Citus cannot deparse the simple one (CASE id WHEN …)
                confirm_mo_id=case(
                    *[(Order.id == o.id, r.mo_id) for _, r, o in accepted if r.mo_id is not None], else_=None
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
            mts.append(Mt(r.msisdn, texts.code_expired(entry.facts), MessageKind.REPLY, mo_id=r.mo_id))
            results[i] = CodeOutcome("expired")
            continue
        first_order = (r.msisdn, order.service_code) not in held
        opening = _opening(ctx, order, entry, msisdn=r.msisdn, first_order=first_order)
        sub_id = opening.row["id"]
        subscriptions.append(opening.row)
        actor = f"subscriber:{r.msisdn}"
        events.append(
            event_row(
                ctx,
                msisdn=r.msisdn,
                kind=EventKind.ORDER_CONFIRMED,
                service_code=order.service_code,
                actor=actor,
                channel="sms",
                order_id=order.id,
                subscription_id=sub_id,
            )
        )
        events.append(opening.subscribed_event(ctx, actor))
        mts.append(
            Mt(
                r.msisdn,
                texts.order_reminder(opening.facts, opening.wording, reorder=not first_order),
                MessageKind.ORDER_REMINDER,
                dedupe_key=f"ordered:{sub_id}",
                mo_id=r.mo_id,
                fresh_key=True,
            )
        )
        results[i] = CodeOutcome("confirmed", sub_id)
    if subscriptions:
        insert_rows(ctx.conn, table_of(Subscription), subscriptions)


def _confirm_gifts(
    ctx: Ctx,
    gifts: list[tuple[int, CodeReply, Any]],
    entries: dict[str, CatalogEntry],
    results: list[CodeOutcome | MingbaiError | None],
    events: list[dict[str, Any]],
    mts: list[Mt],
) -> None:
    """A right code for one half of a gift order (double opt-in: the recipient agrees to receive,
    the gifter to pay). The first half to confirm is marked and waits; the second opens the
    subscription on the recipient's side, paid by the gifter (``payer_msisdn``).

    Both halves' confirmations lock the recipient's subscriber row (the recipient's own reply has
    it already), so two replies at once are decided one after the other and the second sees the
    first: a gift can neither open twice nor be left with both sides agreed and nothing open."""
    now = ctx.now()
    lock_subscribers(ctx, {o.recipient or o.msisdn for _, _, o in gifts})
    partners = {
        p.id: p
        for p in ctx.conn.execute(
            select(table_of(Order)).where(
                Order.msisdn.in_(sorted({o.recipient or o.gifter for _, _, o in gifts})),
                Order.id.in_([o.pair_id for _, _, o in gifts]),
            )
        ).all()
    }
    agreed: set[int] = set()  # halves confirmed earlier in this batch
    decided: set[int] = set()  # halves a gift opened or refused earlier in this batch
    for i, r, order in gifts:
        entry = entries[order.service_code]
        gifter_side = order.recipient is not None
        other = order.recipient if gifter_side else order.gifter
        partner = partners.get(order.pair_id)
        if order.id in decided:
            mts.append(Mt(r.msisdn, texts.gift_not_agreed(entry.facts), MessageKind.REPLY, mo_id=r.mo_id))
            results[i] = CodeOutcome("expired")
            continue
        if order.consented_at is not None or order.id in agreed:
            mts.append(
                Mt(
                    r.msisdn,
                    texts.gift_waiting(entry.facts, gifter_side=gifter_side, other=other),
                    MessageKind.REPLY,
                    mo_id=r.mo_id,
                )
            )
            results[i] = CodeOutcome("awaiting_other")
            continue
        if partner is None or partner.status != "pending" or partner.expires_at <= now or partner.id in decided:
            _set_orders(
                ctx,
                [{"m": r.msisdn, "i": order.id, "v_status": "failed", "v_attempts": order.attempts, "v_decided": now}],
            )
            events.append(_code_event(ctx, r, order, EventKind.ORDER_REFUSED, {"reason": "gift_not_agreed"}))
            mts.append(Mt(r.msisdn, texts.gift_not_agreed(entry.facts), MessageKind.REPLY, mo_id=r.mo_id))
            results[i] = CodeOutcome("refused")
            continue
        if partner.consented_at is None and partner.id not in agreed:
            ctx.conn.execute(
                update(Order)
                .where(Order.msisdn == r.msisdn, Order.id == order.id, Order.status == "pending")
                .values(consented_at=now)
            )
            events.append(_code_event(ctx, r, order, EventKind.GIFT_CONSENTED, {"pays": gifter_side}))
            mts.append(
                Mt(
                    r.msisdn,
                    texts.gift_waiting(entry.facts, gifter_side=gifter_side, other=other),
                    MessageKind.REPLY,
                    mo_id=r.mo_id,
                )
            )
            results[i] = CodeOutcome("awaiting_other")
            agreed.add(order.id)
            continue
        rec, gif = (partner, order) if gifter_side else (order, partner)
        results[i] = _open_gift(ctx, r, rec, gif, entry, events, mts)
        decided.update((order.id, partner.id))


def _open_gift(
    ctx: Ctx, r: CodeReply, rec: Any, gif: Any, entry: CatalogEntry, events: list[dict[str, Any]], mts: list[Mt]
) -> CodeOutcome:
    """Both sides agreed: the recipient's subscription, paid by the gifter."""
    now = ctx.now()
    recipient, gifter = rec.msisdn, gif.msisdn
    statuses = {
        (m, code): status
        for m, code, status in ctx.conn.execute(
            select(Subscription.msisdn, Subscription.service_code, Subscription.status).where(
                Subscription.msisdn == recipient, Subscription.service_code == rec.service_code
            )
        ).all()
    }
    held = (recipient, rec.service_code) in statuses
    refusal = order_refusal(
        sp_status=entry.sp_status,
        service_status=entry.service_status,
        subscribed=statuses.get((recipient, rec.service_code)) == "active",
    )
    halves = [(recipient, rec), (gifter, gif)]
    if refusal is not None:
        _set_orders(
            ctx,
            [{"m": m, "i": o.id, "v_status": "failed", "v_attempts": o.attempts, "v_decided": now} for m, o in halves],
        )
        reason = texts.refusal_reason(refusal)
        events.append(
            _code_event(ctx, r, rec if r.msisdn == recipient else gif, EventKind.ORDER_REFUSED, {"reason": reason})
        )
        for m, _ in halves:
            mts.append(Mt(m, texts.order_refused(reason), MessageKind.REPLY, mo_id=r.mo_id if m == r.msisdn else None))
        return CodeOutcome("refused")
    for m, o in halves:
        ctx.conn.execute(
            update(Order)
            .where(Order.msisdn == m, Order.id == o.id, Order.status == "pending")
            .values(status="confirmed", decided_at=now, consented_at=o.consented_at or now)
        )
    opening = _opening(ctx, rec, entry, msisdn=recipient, first_order=not held, payer=gifter)
    sub_id = opening.row["id"]
    insert_rows(ctx.conn, table_of(Subscription), [opening.row])
    actor = f"subscriber:{r.msisdn}"
    for m, o in ((recipient, rec), (gifter, gif)):
        events.append(
            event_row(
                ctx,
                msisdn=m,
                kind=EventKind.ORDER_CONFIRMED,
                service_code=o.service_code,
                actor=actor,
                channel="sms",
                order_id=o.id,
                subscription_id=sub_id,
            )
        )
    events.append(opening.subscribed_event(ctx, actor))
    facts, wording = opening.facts, opening.wording
    for m, gifter_side, other in ((recipient, False, gifter), (gifter, True, recipient)):
        mts.append(
            Mt(
                m,
                texts.gift_opened(facts, gifter_side=gifter_side, other=other, trial_wording=wording),
                MessageKind.ORDER_REMINDER,
                dedupe_key=f"ordered:{sub_id}",
                mo_id=r.mo_id if m == r.msisdn else None,
                fresh_key=True,
            )
        )
    return CodeOutcome("confirmed", sub_id)


@dataclass(frozen=True)
class _Opening:
    """A confirmed order's subscription as it opens: its row, the SUBSCRIBED event's detail,
    the service facts at the ordered price and the trial wording of the reminder."""

    order: Any
    row: dict[str, Any]
    detail: dict[str, Any]
    facts: ServiceFacts
    wording: str

    def subscribed_event(self, ctx: Ctx, actor: str) -> dict[str, Any]:
        return event_row(
            ctx,
            msisdn=self.row["msisdn"],
            kind=EventKind.SUBSCRIBED,
            service_code=self.order.service_code,
            actor=actor,
            channel=self.order.channel,
            order_id=self.order.id,
            subscription_id=self.row["id"],
            detail=self.detail,
        )


def _opening(
    ctx: Ctx, order: Any, entry: CatalogEntry, *, msisdn: str, first_order: bool, payer: str | None = None
) -> _Opening:
    """The one way an order becomes a subscription, for a plain order and for a gift (opened on
    the recipient's side; ``payer`` the gifter): the free trial and first charge day follow
    from whether the number held the service before (subscriptions.rules)."""
    now = ctx.now()
    billing = entry.facts.billing
    first_charge = first_charge_on(billing, now, first_order=first_order)
    in_trial = billing == "monthly" and first_order
    row = {
        "msisdn": msisdn,
        "id": new_id(),
        "service_code": order.service_code,
        "sp_code": order.sp_code,
        "order_id": order.id,
        "channel": order.channel,
        "gifter": payer or order.gifter,
        "payer_msisdn": payer,
        "status": "active",
        "billing": billing,
        "price_fen": order.price_fen,
        "trial": in_trial,
        "first_charge_on": first_charge,
        "ordered_at": order.created_at,
        "confirmed_at": now,
    }
    detail: dict[str, Any] = {
        "trial": in_trial,
        "first_charge_on": first_charge.isoformat() if first_charge else None,
        "price_fen": order.price_fen,
    }
    if payer:
        detail["payer"] = payer
    facts = ServiceFacts(**{**entry.facts.__dict__, "price_fen": order.price_fen})
    return _Opening(order, row, detail, facts, trial_wording(first_charge, now, in_trial=in_trial))
