"""REST routes: the SMSC interception hook, reviewers' queues, operators' ports and strategies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from mingbai.auth.service import Principal, Role
from mingbai.jsonable import jsonable, recast
from mingbai.spam import reports, service
from mingbai.spam.engine import Message
from mingbai.spam.runtime import filter_for
from mingbai.spam.schemas import (
    CheckBatchIn,
    CheckIn,
    CheckOut,
    PortEventOut,
    PortIn,
    PortOut,
    PortStateIn,
    ReportDecisionIn,
    ReportOut,
    ReviewDecisionIn,
    ReviewOut,
    StrategyIn,
    StrategyOut,
    VerificationOut,
)
from mingbai.web.deps import CtxDep, Operator, PlatformDep, require

router = APIRouter(prefix="/api/v1/spam", tags=["Spam"])

Smsc = Annotated[Principal, Depends(require(Role.SMSC))]
Reviewer = Annotated[Principal, Depends(require(Role.REVIEWER))]
ReviewerOrOperator = Annotated[Principal, Depends(require(Role.REVIEWER, Role.OPERATOR))]
#: ids are 53-bit, versions fit a 32-bit column: larger numbers are a 422, not a database error
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post(
    "/check", response_model=CheckOut, summary="Intercept one message: block, review (deliver and queue) or pass"
)
def check(body: CheckIn, who: Smsc, platform: PlatformDep) -> CheckOut:
    live = filter_for(platform)
    msg = Message(body.sender, body.recipient, body.text, body.port_type)
    # recorded before the answer: a block that could not be logged is an error, never a silent "block"
    decision, _ = live.check_and_record(msg)
    return CheckOut.model_validate(decision.as_dict())


@router.post("/check/batch", response_model=list[CheckOut], summary="Intercept up to 1000 messages in order")
def check_batch(body: CheckBatchIn, who: Smsc, platform: PlatformDep) -> list[CheckOut]:
    msgs = [Message(m.sender, m.recipient, m.text, m.port_type) for m in body.messages]
    return [CheckOut.model_validate(d.as_dict()) for d in filter_for(platform).check_many_and_record(msgs)]


# -- review queue ---------------------------------------------------------------------------------------


@router.get("/reviews", response_model=list[ReviewOut], summary="Grey-zone messages, numbers masked")
def list_reviews(
    who: ReviewerOrOperator,
    ctx: CtxDep,
    status: Annotated[str, Query(pattern="^(open|decided|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ReviewOut]:
    return [recast(ReviewOut, r) for r in service.list_reviews(ctx, status=status, limit=limit)]


@router.post("/reviews/{review_id}/decision", response_model=ReviewOut, summary="Label a grey-zone message")
def decide_review(review_id: RowId, body: ReviewDecisionIn, who: Reviewer, ctx: CtxDep) -> ReviewOut:
    return recast(ReviewOut, service.decide_review(ctx, review_id=review_id, label=body.label, reviewer=who.actor))


# -- reports --------------------------------------------------------------------------------------------


@router.get("/reports", response_model=list[ReportOut], summary="Reports to 10086999")
def list_reports(
    who: ReviewerOrOperator,
    ctx: CtxDep,
    status: Annotated[str, Query(pattern="^(pending|confirmed|rejected|referred|all)$")] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReportOut]:
    rows = reports.list_reports(ctx, status=None if status == "all" else status, limit=limit)
    return [recast(ReportOut, r) for r in rows]


@router.post("/reports/{report_id}/decision", response_model=VerificationOut, summary="Verify a report")
def decide_report(report_id: RowId, body: ReportDecisionIn, who: Reviewer, ctx: CtxDep) -> VerificationOut:
    result = reports.decide_report(ctx, report_id=report_id, confirm=body.confirm, reviewer=who.actor, note=body.note)
    return VerificationOut.model_validate(jsonable(result))


@router.get("/reports/stats", summary="Reports per day, verified %, time to verify, sanctions")
def report_stats(who: ReviewerOrOperator, ctx: CtxDep, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Any:
    since, until = reports.stats_window(ctx, days)
    return jsonable(reports.report_stats(ctx, since=since, until=until))


@router.post("/referrals/export", summary="Referred reports for other provinces (marks them exported)")
def export_referrals(who: Operator, ctx: CtxDep, province: str | None = None, include_exported: bool = False) -> Any:
    return jsonable(
        reports.export_referrals(ctx, province=province, include_exported=include_exported, actor=who.actor)
    )


# -- ports ----------------------------------------------------------------------------------------------


@router.get("/ports", response_model=list[PortOut], summary="Industry port registry")
def list_ports(who: ReviewerOrOperator, ctx: CtxDep, state: str | None = None) -> list[PortOut]:
    return [recast(PortOut, p) for p in service.list_ports(ctx, state=state)]


@router.post("/ports", response_model=PortOut, status_code=201, summary="Register an industry port and its signature")
def register_port(body: PortIn, who: Operator, ctx: CtxDep) -> PortOut:
    view = service.register_port(
        ctx, port=body.port, owner=body.owner, signature=body.signature, province=body.province, actor=who.actor
    )
    return recast(PortOut, view)


@router.post("/ports/{port}/state", response_model=PortOut, summary="Warn, penalise, close or reopen a port")
def set_port_state(port: str, body: PortStateIn, who: Operator, ctx: CtxDep) -> PortOut:
    view = service.set_port_state(ctx, port=port, state=body.state, reason=body.reason, actor=who.actor)
    return recast(PortOut, view)


@router.get("/ports/{port}/history", response_model=list[PortEventOut], summary="A port's states over time")
def port_history(port: str, who: ReviewerOrOperator, ctx: CtxDep) -> list[PortEventOut]:
    return [recast(PortEventOut, e) for e in service.port_history(ctx, port)]


# -- strategies -----------------------------------------------------------------------------------------


@router.get("/strategies", response_model=list[StrategyOut], summary="Strategy versions")
def list_strategies(who: Operator, ctx: CtxDep) -> list[StrategyOut]:
    return [StrategyOut(version=s.version, active=s.active, config=s.config) for s in service.list_strategies(ctx)]


@router.post("/strategies", response_model=StrategyOut, status_code=201, summary="A new strategy version")
def create_strategy(body: StrategyIn, who: Operator, ctx: CtxDep) -> StrategyOut:
    strategy = service.create_strategy(
        ctx, changes=body.changes, actor=who.actor, base_version=body.base_version, note=body.note
    )
    if body.activate:
        service.activate_strategy(ctx, strategy.version, actor=who.actor)
    return StrategyOut(version=strategy.version, active=body.activate, config=strategy.config())


@router.post("/strategies/{version}/activate", response_model=StrategyOut, summary="Put a version in force")
def activate_strategy(version: Version, who: Operator, ctx: CtxDep) -> StrategyOut:
    strategy = service.activate_strategy(ctx, version, actor=who.actor)
    return StrategyOut(version=strategy.version, active=True, config=strategy.config())
