"""The auditor's question (R8, R2): which charges stand on no confirming SMS from the charged
number (or, for a gift, from the giver who pays)? The answer must be none, on every run.

One set-based pass over ``charge`` joined to its subscription, order and confirming MO (each
join on the subscriber's key, so a distributed database runs it shard-local); the orphans are
listed in a second statement only when there are any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased

from mingbai.charging.models import Charge
from mingbai.db import Ctx
from mingbai.disputes.rules import CONFIRMING_LABEL
from mingbai.messaging.models import MoMessage
from mingbai.subscriptions.models import Order, Subscription

#: orphans listed at most (the count is always exact)
MAX_LISTED = 1000


@dataclass(frozen=True)
class ConsentAudit:
    charges_checked: int
    orphan_count: int
    orphans: list[dict[str, Any]] = field(default_factory=list)


def _joined() -> tuple[Any, Any]:
    own = aliased(MoMessage)
    giver = aliased(MoMessage)
    base = (
        select()
        .select_from(Charge)
        .outerjoin(Subscription, and_(Subscription.msisdn == Charge.msisdn, Subscription.id == Charge.subscription_id))
        .outerjoin(Order, and_(Order.msisdn == Subscription.msisdn, Order.id == Subscription.order_id))
        .outerjoin(
            own,
            and_(own.msisdn == Charge.msisdn, own.id == Order.confirm_mo_id, own.handled_as == CONFIRMING_LABEL),
        )
        .outerjoin(
            giver,
            and_(giver.msisdn == Order.gifter, giver.id == Order.confirm_mo_id, giver.handled_as == CONFIRMING_LABEL),
        )
    )
    consented = and_(Order.status == "confirmed", or_(own.id.is_not(None), giver.id.is_not(None)))
    reason = case(
        (Subscription.id.is_(None), literal("no_subscription")),
        (Order.id.is_(None), literal("no_order")),
        (Order.status != "confirmed", literal("order_not_confirmed")),
        (Order.confirm_mo_id.is_(None), literal("no_confirming_mo_linked")),
        else_=literal("confirming_mo_missing"),
    )
    return base, (consented, reason)


def audit_consent(ctx: Ctx, *, limit: int = MAX_LISTED) -> ConsentAudit:
    base, (consented, reason) = _joined()
    checked, orphans = ctx.session.execute(
        base.add_columns(func.count(), func.coalesce(func.sum(case((consented, 0), else_=1)), 0))
    ).one()
    listed: list[dict[str, Any]] = []
    if orphans:
        for msisdn, cid, sub_id, code, amount, why in ctx.session.execute(
            base.add_columns(
                Charge.msisdn, Charge.id, Charge.subscription_id, Charge.service_code, Charge.amount_fen, reason
            )
            .where(case((consented, 0), else_=1) == 1)
            .order_by(Charge.msisdn, Charge.id)
            .limit(limit)
        ):
            listed.append(
                {
                    "msisdn": msisdn,
                    "charge_id": cid,
                    "subscription_id": sub_id,
                    "service_code": code,
                    "amount_fen": amount,
                    "reason": why,
                }
            )
    return ConsentAudit(int(checked), int(orphans), listed)
