"""The prepaid account: recharges with cards, payments, gifts, returns and refunds as credits,
charges as debits, and the points they earn. The balance is always computed from this
history (:func:`mingbai.charging.rules.settle`), so no run ever has to update it and no
figure can drift from the entries that explain it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select, update

from mingbai.audit import service as audit
from mingbai.catalog.service import get_subscriber
from mingbai.charging.models import BalanceEntry, Charge, CreditReference, PointsEntry, RechargeCard
from mingbai.charging.rules import CREDIT_KINDS, LedgerItem, card_expires_on, points_for_payment, settle
from mingbai.clock import local_date
from mingbai.db import Ctx, insert_ignore_new
from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.msisdn import normalize_msisdn
from mingbai.subscriptions.service import lock_subscriber

MAX_CREDIT_FEN = 10_000_000  # 100,000 yuan: more in one entry is a typo


@dataclass(frozen=True)
class Credit:
    id: int
    msisdn: str
    kind: str
    amount_fen: int
    at: datetime
    channel: str
    ref: str | None
    note: str | None
    #: False when the same reference had been credited before (nothing added twice)
    created: bool = True


def _credit_view(e: BalanceEntry, created: bool = True) -> Credit:
    return Credit(e.id, e.msisdn, e.kind, e.amount_fen, e.at, e.channel, e.ref, e.note, created)


@dataclass(frozen=True)
class CreditIn:
    """One credit of :func:`credit_many`."""

    kind: str
    amount_fen: int
    ref: str | None = None
    note: str | None = None


def credit(
    ctx: Ctx,
    *,
    msisdn: str,
    kind: str,
    amount_fen: int,
    channel: str,
    actor: str,
    ref: str | None = None,
    note: str | None = None,
) -> Credit:
    """Add money to the account. A payment, gift, return or refund with a reference already
    credited returns that credit instead of adding another (a retried bank callback)."""
    return credit_many(
        ctx, msisdn=msisdn, channel=channel, actor=actor, credits=[CreditIn(kind, amount_fen, ref, note)]
    )[0]


def credit_many(ctx: Ctx, *, msisdn: str, channel: str, actor: str, credits: list[CreditIn]) -> list[Credit]:
    """Several credits to one account at once (a dispute's refunds and returns), each as
    :func:`credit` makes it, in a fixed number of statements whatever their number."""
    msisdn = normalize_msisdn(msisdn)
    for c in credits:
        if c.kind not in CREDIT_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(CREDIT_KINDS)}", code="bad_kind")
        if not 0 < c.amount_fen <= MAX_CREDIT_FEN:
            raise InvalidInput(f"amount_fen must be 1–{MAX_CREDIT_FEN}", code="bad_amount")
        if c.ref is not None and not 1 <= len(c.ref) <= 64:
            raise InvalidInput("ref must be 1–64 characters", code="bad_ref")
    if not credits:
        return []
    lock_subscriber(ctx, msisdn)
    keys = sorted({(c.kind, c.ref) for c in credits if c.ref is not None})
    existing: dict[tuple[str, str], BalanceEntry] = {}
    claimed_before = _claim_references(ctx, keys=keys, msisdn=msisdn)
    if claimed_before:
        # only a reference claimed before can have been credited: look those up
        for e in ctx.session.scalars(
            select(BalanceEntry).where(
                BalanceEntry.msisdn == msisdn,
                BalanceEntry.kind.in_(sorted({k for k, _ in claimed_before})),
                BalanceEntry.ref.in_(sorted({r for _, r in claimed_before})),
            )
        ):
            if e.ref is not None and (e.kind, e.ref) in claimed_before:
                existing.setdefault((e.kind, e.ref), e)
    out: list[Credit] = []
    for c in credits:
        done = existing.get((c.kind, c.ref)) if c.ref is not None else None
        if done is not None:
            if done.amount_fen != c.amount_fen:
                raise Conflict(f"{c.kind} {c.ref} was already credited with another amount", code="ref_reused")
            out.append(_credit_view(done, created=False))
            continue
        entry = BalanceEntry(
            msisdn=msisdn,
            id=new_id(),
            kind=c.kind,
            amount_fen=c.amount_fen,
            at=ctx.now(),
            channel=channel,
            actor=actor,
            ref=c.ref,
            note=c.note,
        )
        ctx.session.add(entry)
        if c.ref is not None:
            existing[(c.kind, c.ref)] = entry  # the same reference twice in one call: credited once
        points = points_for_payment(c.amount_fen) if c.kind in ("recharge", "payment") else 0
        if points:
            add_points(ctx, msisdn=msisdn, delta=points, reason=f"{'充值' if c.kind == 'recharge' else '交费'}积分")
        out.append(_credit_view(entry))
    ctx.session.flush()
    # money put into an account by staff (a refund, a return, a payment taken at the counter):
    # one audit entry per credit made, none for a retried reference
    for c, made in zip(credits, out, strict=True):
        if made.created:
            audit.record_staff(
                ctx,
                actor=actor,
                action=f"charging.credit.{c.kind}",
                subject_msisdn=msisdn,
                detail={"amount_fen": c.amount_fen, "channel": channel, "ref": c.ref or ""},
            )
    return out


def _claim_references(ctx: Ctx, *, keys: list[tuple[str, str]], msisdn: str) -> list[tuple[str, str]]:
    """A reference belongs to the first subscriber credited with it; anyone else is refused.
    Returns the references this subscriber had claimed before (the rest are new)."""
    if not keys:
        return []
    new = insert_ignore_new(
        ctx.session, CreditReference.__table__, [{"kind": k, "ref": r, "msisdn": msisdn} for k, r in keys]
    )
    before = [k for k in keys if k not in new]
    if not before:
        return []
    kinds, refs = sorted({k for k, _ in before}), sorted({r for _, r in before})
    owners = ctx.session.execute(
        select(CreditReference.kind, CreditReference.ref, CreditReference.msisdn).where(
            CreditReference.kind.in_(kinds), CreditReference.ref.in_(refs)
        )
    ).all()
    for kind, ref, owner in owners:
        if (kind, ref) in before and owner != msisdn:
            raise Conflict(f"{kind} {ref} was already credited to another subscriber", code="ref_reused")
    return before


def add_points(ctx: Ctx, *, msisdn: str, delta: int, reason: str) -> None:
    if delta == 0:
        return
    if delta < 0 and points_balance(ctx, msisdn) + delta < 0:
        raise Conflict("not enough points", code="points_short")
    ctx.session.execute(
        insert(PointsEntry), {"msisdn": msisdn, "id": new_id(), "at": ctx.now(), "delta": delta, "reason": reason}
    )


def points_balance(ctx: Ctx, msisdn: str, before: datetime | None = None) -> int:
    stmt = select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(PointsEntry.msisdn == msisdn)
    if before is not None:
        stmt = stmt.where(PointsEntry.at < before)
    return int(ctx.session.scalar(stmt) or 0)


# -- recharge cards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CardView:
    card_no: str
    face_value_fen: int
    issued_on: date
    expires_on: date
    status: str


def issue_cards(
    ctx: Ctx,
    *,
    card_numbers: list[str],
    face_value_fen: int,
    issued_on: date,
    printed_expiry: date | None = None,
) -> list[CardView]:
    """Record cards as printed; their validity follows seed 002's rule from the issue date."""
    if not 0 < face_value_fen <= MAX_CREDIT_FEN:
        raise InvalidInput("face value must be a positive number of fen", code="bad_amount")
    for no in card_numbers:
        if not (no.isdigit() and 10 <= len(no) <= 20):
            raise InvalidInput(f"card number must be 10–20 digits: {no!r}", code="bad_card")
    expires = card_expires_on(issued_on, printed_expiry)
    taken = set(ctx.session.scalars(select(RechargeCard.card_no).where(RechargeCard.card_no.in_(card_numbers))))
    if taken:
        raise Conflict(f"cards already issued: {', '.join(sorted(taken)[:5])}", code="card_exists")
    ctx.session.execute(
        insert(RechargeCard),
        [
            {
                "card_no": no,
                "face_value_fen": face_value_fen,
                "issued_on": issued_on,
                "expires_on": expires,
                "status": "new",
                "used_by": None,
                "used_at": None,
            }
            for no in card_numbers
        ],
    )
    return [CardView(no, face_value_fen, issued_on, expires, "new") for no in card_numbers]


def recharge_with_card(ctx: Ctx, *, msisdn: str, card_no: str, channel: str, actor: str) -> Credit:
    """充值: spend a card on a subscriber's balance, once, before it expires."""
    msisdn = normalize_msisdn(msisdn)
    get_subscriber(ctx, msisdn)
    stmt = select(RechargeCard).where(RechargeCard.card_no == card_no.strip())
    if ctx.dialect == "postgresql":
        stmt = stmt.with_for_update()
    card = ctx.session.scalars(stmt).first()
    if card is None:
        raise NotFound("no such recharge card", code="unknown_card")
    if card.status != "new":
        raise Conflict("this card has already been used", code="card_used")
    today = local_date(ctx.now())
    if today > card.expires_on:
        raise Conflict(f"this card expired on {card.expires_on.isoformat()}", code="card_expired")
    done = ctx.session.execute(
        update(RechargeCard)
        .where(RechargeCard.card_no == card.card_no, RechargeCard.status == "new")
        .values(status="used", used_by=msisdn, used_at=ctx.now())
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this card has already been used", code="card_used")
    return credit(
        ctx,
        msisdn=msisdn,
        kind="recharge",
        amount_fen=card.face_value_fen,
        channel=channel,
        actor=actor,
        ref=card.card_no,
        note=f"充值卡 有效期至{card.expires_on.isoformat()}",
    )


# -- the balance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    msisdn: str
    at: datetime
    balance_fen: int
    owed_fen: int
    credits_fen: int
    charges_fen: int
    points: int
    #: charge id → fen of it still owed
    owed_by_charge: dict[int, int]


def balance(ctx: Ctx, *, msisdn: str, at: datetime | None = None) -> Balance:
    """The account just before ``at`` (default: now, everything so far): what is left, what is owed."""
    msisdn = normalize_msisdn(msisdn)
    get_subscriber(ctx, msisdn)
    at = at or ctx.now() + timedelta(microseconds=1)
    credits = ctx.session.execute(
        select(BalanceEntry.at, BalanceEntry.amount_fen).where(BalanceEntry.msisdn == msisdn, BalanceEntry.at < at)
    ).all()
    charges = ctx.session.execute(
        select(Charge.created_at, Charge.amount_fen, Charge.id).where(Charge.msisdn == msisdn, Charge.created_at < at)
    ).all()
    items = [LedgerItem(a, amount) for a, amount in credits] + [
        LedgerItem(a, -amount, cid) for a, amount, cid in charges
    ]
    s = settle(items)
    return Balance(
        msisdn,
        at,
        s.balance_fen,
        s.owed_fen,
        sum(int(c[1]) for c in credits),
        sum(int(c[1]) for c in charges),
        points_balance(ctx, msisdn, before=at),
        s.owed_by_charge,
    )


def credits_between(ctx: Ctx, msisdn: str, start: datetime, end: datetime) -> list[Credit]:
    rows = ctx.session.scalars(
        select(BalanceEntry)
        .where(BalanceEntry.msisdn == msisdn, BalanceEntry.at >= start, BalanceEntry.at < end)
        .order_by(BalanceEntry.at, BalanceEntry.id)
    )
    return [_credit_view(e) for e in rows]


@dataclass(frozen=True)
class PointsChange:
    at: datetime
    delta: int
    reason: str


def points_between(ctx: Ctx, msisdn: str, start: datetime, end: datetime) -> list[PointsChange]:
    rows = ctx.session.scalars(
        select(PointsEntry)
        .where(PointsEntry.msisdn == msisdn, PointsEntry.at >= start, PointsEntry.at < end)
        .order_by(PointsEntry.at, PointsEntry.id)
    )
    return [PointsChange(p.at, p.delta, p.reason) for p in rows]
