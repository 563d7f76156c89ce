"""Dispute pages in the consoles (R8).

- Agent console: open disputes; a subscriber's charges with the evidence panel of each and a
  one-action dispute form; a dispute's decision with its rule and findings, and the verification
  step (with a flagged discretionary refund).
- Supervisors: discretionary refunds and per-agent totals.
- Subscriber portal: each dispute's state; a dispute about a charge can be opened there.
- SP portal: the refunds made on the SP's behalf, numbers masked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from mingbai.auth.service import STAFF_CHANNEL
from mingbai.catalog.service import get_subscriber
from mingbai.charging.service import list_charges
from mingbai.consoles import i18n
from mingbai.consoles.security import csrf_protect
from mingbai.consoles.web import (
    FrontLine,
    Oversight,
    PlatformDep,
    SpUser,
    Subscriber,
    by_reference,
    render,
    see_other,
    subscriber_param,
    viewed,
)
from mingbai.disputes import service
from mingbai.disputes.evidence import chain
from mingbai.disputes.texts import RULE_ZH
from mingbai.errors import NotFound
from mingbai.ids import MAX_ID
from mingbai.web.deps import RowId

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


_EN_RULES = {
    "billing_error": "Billing error",
    "records_conflict": "Records incomplete or conflicting",
    "no_active_use": "No record of the subscriber's active use",
    "unverified_3d": "Not verified within 3 days",
    "legitimate": "Verified legitimate",
    "discretionary": "Discretionary refund",
}
i18n.MESSAGES.update(
    {
        **{f"rule.{k}": (str(v), _EN_RULES[str(k)]) for k, v in RULE_ZH.items()},
        "rule.none": ("核查中", "Being verified"),
        "nav.disputes": ("费用争议", "Disputes"),
        "nav.my_disputes": ("我的争议", "My disputes"),
        "nav.refunds": ("退费明细", "Refunds"),
        "dispute.title": ("费用争议", "Dispute"),
        "dispute.open_list": ("待核查的争议", "Disputes being verified"),
        "dispute.open": ("受理争议", "Open a dispute"),
        "dispute.open_note": (
            "按规则当场判定:计费差错、记录不全或冲突、无主动使用记录 → 退费并双倍返还;3日内未能查证 → 只退费。",
            "Decided on the spot by rule: billing error, incomplete records, no active use → refund and an equal "
            "return; not verified within 3 days → refund only.",
        ),
        "dispute.words": ("客户原话", "The subscriber's words"),
        "dispute.keep": ("客户要求保留该业务", "The subscriber keeps the service"),
        "dispute.charges": ("扣费记录", "Charges"),
        "dispute.evidence": ("证据", "Evidence"),
        "dispute.rule": ("判定规则", "Rule"),
        "dispute.findings": ("判定依据", "Findings"),
        "dispute.checked": ("已核对", "Checked"),
        "dispute.refund": ("退费", "Refund"),
        "dispute.return": ("返还", "Return"),
        "dispute.status": ("状态", "Status"),
        "dispute.policy": ("退费原则", "Policy"),
        "dispute.due": ("核查截止", "Verify by"),
        "dispute.decide": ("核查结果", "Verification"),
        "dispute.verified": ("查证属实(不退费)", "Verified legitimate (no refund)"),
        "dispute.not_verifiable": ("无法查证(只退费)", "Not verifiable (refund only)"),
        "dispute.discretionary": ("客户坚持:酌情退费(不返还)", "The subscriber insists: discretionary refund"),
        "dispute.reason": ("酌情退费原因", "Reason for a discretionary refund"),
        "dispute.none": ("没有争议。", "No disputes."),
        "dispute.supervisor": ("酌情退费与坐席汇总", "Discretionary refunds and per-agent totals"),
        "dispute.agent": ("坐席", "Agent"),
        "dispute.count": ("争议数", "Disputes"),
        "dispute.discretionary_count": ("酌情退费笔数", "Discretionary"),
        "dispute.discretionary_fen": ("酌情退费金额", "Discretionary amount"),
        "dispute.mine": ("我的费用争议", "My disputes"),
        "dispute.sp_refunds": ("代 SP 退费明细", "Refunds made on your behalf"),
        "dispute.owed": ("应由 SP 承担", "Owed by the SP"),
        "dispute.confirming_mo": ("客户确认短信", "Subscriber's confirming SMS"),
        "dispute.confirmation_request": ("二次确认短信", "Confirmation request"),
        "dispute.active_use": ("主动使用记录", "Active use"),
        "dispute.missing": ("无记录", "No record"),
        "dispute.status.verifying": ("核查中", "Being verified"),
        "dispute.status.decided": ("已处理", "Decided"),
        "done.dispute_opened": ("争议已受理,结果已短信告知客户。", "Dispute opened; the subscriber was told by SMS."),
        "done.dispute_decided": ("核查结果已记录,客户已收到短信。", "Decision recorded; the subscriber was told."),
        "error.over_ceiling": ("超出本月酌情退费额度。", "Above this month's discretionary ceiling."),
        "error.reason_required": ("酌情退费须填写原因。", "A discretionary refund needs a reason."),
        "error.already_decided": ("该争议已处理。", "This dispute was already decided."),
    }
)


def _id(value: int) -> int:
    if not 0 <= value <= MAX_ID:
        raise NotFound(f"no dispute {value}", code="unknown_dispute")
    return value


# -- agent console ----------------------------------------------------------------------------------


@router.get("/agent/disputes")
def open_disputes(request: Request, platform: PlatformDep, user: FrontLine) -> Response:
    with platform.uow() as ctx:
        verifying = service.list_disputes(ctx, status="verifying")
    return render(request, "disputes/queue.html", user, {"disputes": verifying})


@router.get("/agent/subscribers/{msisdn}/disputes")
def subscriber_disputes(request: Request, platform: PlatformDep, user: FrontLine, msisdn: str) -> Response:
    number = subscriber_param(platform, msisdn)
    if moved := by_reference(request, msisdn, number):
        return moved
    with platform.uow() as ctx:
        subscriber = get_subscriber(ctx, number)
        charges = list_charges(ctx, msisdn=number)
        disputes = service.list_disputes(ctx, msisdn=number)
        viewed(ctx, user, number, "disputes")
    disputed = {i.charge_id: d.id for d in disputes for i in d.items}
    return render(
        request,
        "disputes/subscriber.html",
        user,
        {"subscriber": subscriber, "charges": list(reversed(charges)), "disputes": disputes, "disputed": disputed},
    )


@router.post("/agent/subscribers/{msisdn}/disputes")
def open_dispute(
    request: Request,
    platform: PlatformDep,
    user: FrontLine,
    msisdn: str,
    charge_id: Annotated[list[int], Form(min_length=1, max_length=200)],
    words: Annotated[str | None, Form(max_length=500)] = None,
    keep_service: Annotated[bool, Form()] = False,
) -> Response:
    number = subscriber_param(platform, msisdn)
    with platform.uow() as ctx:
        view = service.open_dispute(
            ctx,
            msisdn=number,
            channel=STAFF_CHANNEL[user.role],
            actor=user.principal.actor,
            charge_ids=[_id(c) for c in charge_id],
            words=words or None,
            keep_service=keep_service,
        )
    platform.deliver(msisdn=number)
    return see_other(f"/agent/disputes/{view.id}?done=dispute_opened")


@router.get("/agent/subscribers/{msisdn}/evidence")
def evidence_panel(
    request: Request,
    platform: PlatformDep,
    user: FrontLine,
    msisdn: str,
    charge: Annotated[int, Query(ge=0, le=MAX_ID)],
) -> Response:
    number = subscriber_param(platform, msisdn)
    if moved := by_reference(request, msisdn, number):
        return moved
    with platform.uow() as ctx:
        found = chain(ctx, msisdn=number, charge_id=charge)
        viewed(ctx, user, number, "evidence")
    name = "disputes/_evidence.html" if request.headers.get("HX-Request") else "disputes/evidence.html"
    return render(request, name, user, {"c": found, "msisdn": number})


@router.get("/agent/disputes/{dispute_id}")
def dispute_page(request: Request, platform: PlatformDep, user: FrontLine, dispute_id: RowId) -> Response:
    with platform.uow() as ctx:
        view = service.get_dispute(ctx, dispute_id)
    return render(request, "disputes/dispute.html", user, {"d": view})


@router.post("/agent/disputes/{dispute_id}/decision")
def decide(
    request: Request,
    platform: PlatformDep,
    user: FrontLine,
    dispute_id: RowId,
    outcome: Annotated[str, Form(max_length=24)],
    discretionary_refund: Annotated[bool, Form()] = False,
    reason: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    with platform.uow() as ctx:
        view = service.decide_dispute(
            ctx,
            dispute_id=dispute_id,
            outcome=outcome,
            actor=user.principal.actor,
            discretionary_refund=discretionary_refund,
            reason=reason,
        )
    platform.deliver(msisdn=view.msisdn)
    return see_other(f"/agent/disputes/{view.id}?done=dispute_decided")


# -- supervisors ----------------------------------------------------------------------------------


@router.get("/ops/disputes")
def supervisor(request: Request, platform: PlatformDep, user: Oversight) -> Response:
    with platform.uow() as ctx:
        totals = service.agent_totals(ctx)
        discretionary = [d for d in service.list_disputes(ctx, status="decided", limit=500) if d.discretionary]
    return render(request, "disputes/supervisor.html", user, {"totals": totals, "discretionary": discretionary})


# -- subscriber portal ----------------------------------------------------------------------------


@router.get("/me/disputes")
def my_disputes(request: Request, platform: PlatformDep, user: Subscriber) -> Response:
    with platform.uow() as ctx:
        disputes = service.list_disputes(ctx, msisdn=user.msisdn)
        charges = list_charges(ctx, msisdn=user.msisdn)
    disputed = {i.charge_id for d in disputes for i in d.items}
    return render(
        request,
        "disputes/mine.html",
        user,
        {"disputes": disputes, "charges": [c for c in reversed(charges) if c.id not in disputed]},
    )


@router.post("/me/disputes")
def my_dispute_open(
    request: Request,
    platform: PlatformDep,
    user: Subscriber,
    charge_id: Annotated[int, Form(ge=0, le=MAX_ID)],
    words: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    with platform.uow() as ctx:
        service.open_dispute(
            ctx, msisdn=user.msisdn, channel="web", actor=user.principal.actor, charge_ids=[charge_id], words=words
        )
    platform.deliver(msisdn=user.msisdn)
    return see_other("/me/disputes?done=dispute_opened")


# -- SP portal --------------------------------------------------------------------------------------


@router.get("/sp/refunds")
def sp_refunds(request: Request, platform: PlatformDep, user: SpUser) -> Response:
    with platform.uow() as ctx:
        rows = service.sp_refunds(ctx, sp_code=user.sp_code)
    return render(request, "disputes/sp_refunds.html", user, {"rows": rows})
