"""REST routes for disputes and the consent evidence (R8).

Roles: agents (10086) and hall clerks open and decide disputes and read the evidence; operators
read them too, set the policy per category and run the consent audit; an SP sees only the refunds
made on its behalf, with the numbers masked.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from mingbai.auth.service import STAFF_CHANNEL
from mingbai.catalog.service import get_subscriber
from mingbai.disputes import service
from mingbai.disputes.audit import audit_consent
from mingbai.disputes.evidence import chain
from mingbai.disputes.schemas import (
    ConsentAuditOut,
    DecisionIn,
    DisputeIn,
    DisputeOut,
    PolicyIn,
    PolicyOut,
    SpRefundOut,
)
from mingbai.ids import MAX_ID
from mingbai.jsonable import jsonable, recast
from mingbai.web.deps import CtxDep, FrontLine, Operator, SpOnly, Staff, viewed

router = APIRouter(prefix="/api/v1")

IdQ = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _out(view: service.DisputeView) -> DisputeOut:
    return recast(DisputeOut, view)


@router.post(
    "/subscribers/{msisdn}/disputes",
    response_model=DisputeOut,
    status_code=status.HTTP_201_CREATED,
    tags=["Disputes"],
    summary="Open a dispute: decided at once by rule from the consent evidence (双倍返还)",
)
def open_dispute(msisdn: str, body: DisputeIn, who: FrontLine, ctx: CtxDep) -> DisputeOut:
    view = service.open_dispute(
        ctx,
        msisdn=msisdn,
        channel=STAFF_CHANNEL[who.role],
        actor=who.actor,
        charge_ids=body.charge_ids,
        subscription_id=body.subscription_id,
        words=body.words,
        keep_service=body.keep_service,
        request_ref=body.request_ref,
    )
    return _out(view)


@router.get(
    "/subscribers/{msisdn}/disputes",
    response_model=list[DisputeOut],
    tags=["Disputes"],
    summary="A subscriber's disputes, newest first",
)
def subscriber_disputes(msisdn: str, who: Staff, ctx: CtxDep) -> list[DisputeOut]:
    get_subscriber(ctx, msisdn)
    viewed(ctx, who, msisdn, "disputes")
    return [_out(v) for v in service.list_disputes(ctx, msisdn=msisdn)]


@router.get("/disputes", response_model=list[DisputeOut], tags=["Disputes"], summary="Disputes, e.g. those verifying")
def disputes(
    who: Staff,
    ctx: CtxDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(verifying|decided)$")] = None,
) -> list[DisputeOut]:
    return [_out(v) for v in service.list_disputes(ctx, status=status_)]


@router.get("/disputes/{dispute_id}", response_model=DisputeOut, tags=["Disputes"], summary="One dispute")
def dispute(dispute_id: int, who: Staff, ctx: CtxDep) -> DisputeOut:
    return _out(service.get_dispute(ctx, _id(dispute_id)))


@router.post(
    "/disputes/{dispute_id}/decision",
    response_model=DisputeOut,
    tags=["Disputes"],
    summary="The verification step: verified legitimate (optionally a discretionary refund) or not verifiable",
)
def decide(dispute_id: int, body: DecisionIn, who: FrontLine, ctx: CtxDep) -> DisputeOut:
    view = service.decide_dispute(
        ctx,
        dispute_id=_id(dispute_id),
        outcome=body.outcome,
        actor=who.actor,
        discretionary_refund=body.discretionary_refund,
        reason=body.reason,
    )
    return _out(view)


def _id(value: int) -> int:
    from mingbai.errors import NotFound

    if not 1 <= value <= MAX_ID:
        raise NotFound(f"no dispute {value}", code="unknown_dispute")
    return value


@router.get(
    "/subscribers/{msisdn}/evidence",
    tags=["Disputes"],
    summary="The consent evidence behind a charge (or a subscription): order, confirmation, the confirming SMS",
)
def evidence(msisdn: str, who: Staff, ctx: CtxDep, charge: IdQ = None, subscription: IdQ = None) -> Any:
    viewed(ctx, who, msisdn, "evidence")
    return jsonable(chain(ctx, msisdn=msisdn, charge_id=charge, subscription_id=subscription))


@router.get(
    "/audit/consent",
    response_model=ConsentAuditOut,
    tags=["Disputes"],
    summary="Charges without a confirming SMS from the charged (or paying) number: must be none",
)
def consent_audit(who: Operator, ctx: CtxDep) -> ConsentAuditOut:
    return recast(ConsentAuditOut, audit_consent(ctx))


@router.get("/dispute-policies", response_model=list[PolicyOut], tags=["Disputes"], summary="Policy history")
def policy_history(who: Staff, ctx: CtxDep) -> list[PolicyOut]:
    return [recast(PolicyOut, p) for p in service.policy_history(ctx)]


@router.post(
    "/dispute-policies",
    response_model=PolicyOut,
    status_code=status.HTTP_201_CREATED,
    tags=["Disputes"],
    summary="Set 先确认后退费 (confirm_first) or 先退费后查证 (refund_first) for a service category",
)
def set_policy(body: PolicyIn, who: Operator, ctx: CtxDep) -> PolicyOut:
    view = service.set_policy(ctx, category=body.category, policy=body.policy, actor=who.actor, reason=body.reason)
    return recast(PolicyOut, view)


@router.get("/refunds", response_model=list[SpRefundOut], tags=["SP"], summary="Refunds made on your behalf")
def sp_refunds(who: SpOnly, ctx: CtxDep) -> list[SpRefundOut]:
    assert who.sp_code is not None
    return [recast(SpRefundOut, r) for r in service.sp_refunds(ctx, sp_code=who.sp_code)]
