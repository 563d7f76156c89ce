"""REST routes of the vault (金库模式, R13), under ``/api/v1/vault``.

Credentials (``web.deps.require_staff``): requesters (agent, hall, supervisor, operator) come with
an API key of their role or a console session; approvers (security) have no API keys
(``auth.service.KEY_ROLES``) and come only with a console session, whose unsafe requests carry
the page's CSRF token in ``X-CSRF-Token``. A key's requests belong to the person its label names
(``vault.rules.identity``). Every answer is ``Cache-Control: no-store``; a refused approval, use or
review is written to the audit log in a transaction of its own (the refused one rolls back).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from mingbai.auth.service import Role
from mingbai.db import Ctx
from mingbai.errors import MingbaiError, NotFound
from mingbai.jsonable import recast
from mingbai.vault import service
from mingbai.vault.rules import APPROVER_ROLES
from mingbai.web.deps import CtxDep, PlatformDep, RowId, StaffCaller, require_staff

R = Role
REQUESTERS = (R.AGENT, R.HALL, R.SUPERVISOR, R.OPERATOR)


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


router = APIRouter(prefix="/api/v1/vault", tags=["Vault"], dependencies=[Depends(_no_store)])

Requester = Annotated[StaffCaller, Depends(require_staff(*REQUESTERS))]
Approver = Annotated[StaffCaller, Depends(require_staff(R.SECURITY))]
Either = Annotated[StaffCaller, Depends(require_staff(*REQUESTERS, R.SECURITY))]

T = TypeVar("T")


class RequestIn(BaseModel):
    operation: Literal["cdr", "location", "identity", "export", "identity_change"]
    reason: str = Field(max_length=400, description="why: at least 4 characters, at most 200 once cleaned")
    msisdn: str | None = Field(default=None, max_length=20, description="the subscriber (all but export)")
    date_from: date | None = Field(default=None, description="cdr and location: first Shanghai day")
    date_to: date | None = Field(default=None, description="cdr and location: last Shanghai day")
    export: dict[str, str] | None = Field(default=None, description='export: {"of": "subscribers", "status": …}')
    identity: dict[str, str] | None = Field(
        default=None, description="identity_change: {name, id_type, id_number} to write"
    )


class BreakGlassIn(BaseModel):
    operation: Literal["cdr", "location", "identity"]
    reason: str = Field(max_length=400)
    msisdn: str = Field(max_length=20)
    date_from: date | None = None
    date_to: date | None = None


class DenyIn(BaseModel):
    reason: str = Field(max_length=400)


class ReviewIn(BaseModel):
    outcome: Literal["accepted", "escalated"]
    note: str = Field(max_length=400)


# the outputs are the service's own views, given their API names (see jsonable.recast)
class RequestOut(service.RequestView):
    pass


class AccessOut(service.AccessResult):
    pass


def _out(view: service.RequestView) -> RequestOut:
    return recast(RequestOut, view)


def _access(result: service.AccessResult) -> AccessOut:
    return recast(AccessOut, result)


def _staff(ctx: CtxDep, caller: StaffCaller, request: Request) -> service.Staff:
    principal, via = caller
    address = request.client.host if request.client else ""
    return service.staff_from_principal(ctx, principal, via=via, address=address)


def _act(
    platform: PlatformDep,
    caller: StaffCaller,
    request: Request,
    action: str,
    request_id: int | None,
    run: Callable[[Ctx, service.Staff], T],
) -> T:
    """Run a decision or a use in its own unit of work, committed before the answer; when it is
    refused, write the refusal to the audit log once that unit of work has rolled back."""
    with platform.uow() as ctx:
        who = _staff(ctx, caller, request)
    try:
        with platform.uow() as ctx:
            return run(ctx, who)
    except MingbaiError as exc:
        with platform.uow() as ctx:
            service.record_refusal(ctx, who, action, request_id, exc)
        raise


@router.post(
    "/requests",
    response_model=RequestOut,
    status_code=status.HTTP_201_CREATED,
    summary="Ask for one sensitive operation on one subscriber (or one export) with a reason",
)
def create_request(body: RequestIn, caller: Requester, ctx: CtxDep, request: Request) -> RequestOut:
    who = _staff(ctx, caller, request)
    view = service.request_access(
        ctx,
        who,
        operation=body.operation,
        reason=body.reason,
        msisdn=body.msisdn,
        date_from=body.date_from,
        date_to=body.date_to,
        export=body.export,
        identity=body.identity,
    )
    return _out(view)


@router.get("/requests", response_model=list[RequestOut], summary="My own requests, newest first")
def my_requests(caller: Requester, ctx: CtxDep, request: Request) -> list[RequestOut]:
    return [_out(v) for v in service.my_requests(ctx, _staff(ctx, caller, request))]


@router.get(
    "/requests/{request_id}",
    response_model=RequestOut,
    summary="One request: its requester or security (another requester's is not found)",
)
def one_request(request_id: RowId, caller: Either, ctx: CtxDep, request: Request) -> RequestOut:
    who = _staff(ctx, caller, request)
    view = service.get_request(ctx, request_id)
    if who.role not in APPROVER_ROLES and view.requester != who.identity:
        raise NotFound(f"no vault request {request_id}", code="unknown_request")
    return _out(view)


@router.get(
    "/pending",
    response_model=list[RequestOut],
    summary="Requests waiting for me (security): not mine, not decided by me; poll it",
)
def pending(caller: Approver, ctx: CtxDep, request: Request) -> list[RequestOut]:
    return [_out(v) for v in service.pending_for(ctx, _staff(ctx, caller, request))]


@router.post(
    "/requests/{request_id}/approve",
    response_model=RequestOut,
    summary="Approve (security, console session): never one's own, nor as the requester",
)
def approve(request_id: RowId, caller: Approver, platform: PlatformDep, request: Request) -> RequestOut:
    return _out(_act(platform, caller, request, "approve", request_id, lambda c, w: service.approve(c, w, request_id)))


@router.post("/requests/{request_id}/deny", response_model=RequestOut, summary="Deny with a reason (security)")
def deny(request_id: RowId, body: DenyIn, caller: Approver, platform: PlatformDep, request: Request) -> RequestOut:
    return _out(
        _act(
            platform,
            caller,
            request,
            "deny",
            request_id,
            lambda c, w: service.deny(c, w, request_id, reason=body.reason),
        )
    )


@router.post(
    "/requests/{request_id}/use",
    response_model=AccessOut,
    summary="Use an approval: the requester only, once, in its window; the data unmasked, never cached",
)
def use(request_id: RowId, caller: Requester, platform: PlatformDep, request: Request) -> AccessOut:
    return _access(_act(platform, caller, request, "use", request_id, lambda c, w: service.use(c, w, request_id)))


@router.post(
    "/break-glass",
    response_model=AccessOut,
    status_code=status.HTTP_201_CREATED,
    summary="Emergency read without approval (MINGBAI_VAULT_BREAK_GLASS_ROLES): flagged, security alerted, reviewed",
)
def break_glass(body: BreakGlassIn, caller: Requester, platform: PlatformDep, request: Request) -> AccessOut:
    return _access(
        _act(
            platform,
            caller,
            request,
            "break_glass",
            None,
            lambda c, w: service.break_glass(
                c,
                w,
                operation=body.operation,
                reason=body.reason,
                msisdn=body.msisdn,
                date_from=body.date_from,
                date_to=body.date_to,
            ),
        )
    )


@router.get("/reviews", response_model=list[RequestOut], summary="Break-glass accesses waiting for review (security)")
def reviews(caller: Approver, ctx: CtxDep) -> list[RequestOut]:
    return [_out(v) for v in service.reviews_pending(ctx)]


@router.post(
    "/requests/{request_id}/review",
    response_model=RequestOut,
    summary="Review a break-glass access: accepted or escalated, with a note (security)",
)
def review(request_id: RowId, body: ReviewIn, caller: Approver, platform: PlatformDep, request: Request) -> RequestOut:
    return _out(
        _act(
            platform,
            caller,
            request,
            "review",
            request_id,
            lambda c, w: service.review(c, w, request_id, outcome=body.outcome, note=body.note),
        )
    )
