"""The vault (金库模式, R13) in the consoles.

- Requesters (agent, hall, supervisor from a subscriber's page; operators for exports from
  ``/ops/exports``) ask for ONE sensitive operation with a reason, follow their requests on
  ``/vault`` (the list polls itself every 2 s and shows a "use" button once approved) and use an
  approval once: the result is a page answered to that POST (``no-store``), or the export's CSV.
- Security approvers see what waits for them on ``/security/vault`` (polled every 2 s; the nav
  badge counts it on every page), approve or deny with a reason, and review break-glass accesses.
- The roles in ``MINGBAI_VAULT_BREAK_GLASS_ROLES`` get a red break-glass form on a subscriber's page.
- Subscribers see who looked at their data on ``/me/access`` (unit and role, never a name).

Every action goes through :mod:`mingbai.vault.service`; a refused approval, use, review or
break-glass is written to the audit log in a transaction of its own (the refused one rolls back),
as the REST API does. The polled lists answer ``204`` when nothing changed, so htmx leaves the
page (and a half-typed denial reason) alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from mingbai.accounts.models import StaffUser
from mingbai.auth.service import Role
from mingbai.catalog.service import get_subscriber
from mingbai.consoles.security import csrf_protect
from mingbai.consoles.web import (
    FrontLine,
    Operator,
    PlatformDep,
    Subscriber,
    WebUser,
    render,
    see_other,
    signed_in,
    subscriber_param,
)
from mingbai.db import Ctx
from mingbai.errors import InvalidInput, MingbaiError
from mingbai.platform import Platform
from mingbai.vault import rules
from mingbai.vault import service as vault
from mingbai.web.deps import RowId

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

REQUESTERS = (Role.AGENT, Role.HALL, Role.SUPERVISOR, Role.OPERATOR)
Requester = Annotated[WebUser, Depends(signed_in(*REQUESTERS))]
Approver = Annotated[WebUser, Depends(signed_in(Role.SECURITY))]

#: what a subscriber's page may ask for (an export is asked for on /ops/exports)
SUBSCRIBER_OPERATIONS = ("cdr", "location", "identity", "identity_change")
#: what the glass may be broken for
BREAK_GLASS_OPERATIONS = ("cdr", "location", "identity")
#: how often the lists ask whether anything changed, in seconds
POLL_SECONDS = 2
#: the nav badge's poll, in seconds
BADGE_SECONDS = 3

T = TypeVar("T")


def _staff(ctx: Ctx, user: WebUser, request: Request) -> vault.Staff:
    address = request.client.host if request.client else ""
    return vault.staff_from_principal(ctx, user.principal, via="session", address=address)


def _act(
    platform: Platform,
    user: WebUser,
    request: Request,
    action: str,
    request_id: int | None,
    run: Callable[[Ctx, vault.Staff], T],
) -> T:
    """Run one vault action in a unit of work; a refusal is written down in one of its own."""
    who: vault.Staff | None = None
    try:
        with platform.uow() as ctx:
            who = _staff(ctx, user, request)
            return run(ctx, who)
    except MingbaiError as exc:
        if who is not None:
            with platform.uow() as ctx:
                vault.record_refusal(ctx, who, action, request_id, exc)
        raise


def _day(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"not a date: {raw[:20]!r} (YYYY-MM-DD)", code="bad_date") from None


def _version(views: Sequence[vault.RequestView]) -> str:
    """What a polled list shows, in a few characters: it changes when any row would."""
    text = "|".join(f"{v.id}:{v.status}:{v.approvals}:{v.review_status}:{len(v.decisions)}" for v in views)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _deliver_to_approvers(platform: Platform) -> None:
    """Hand the approvers' code SMS to the gateway now (the scheduler would, within seconds)."""
    with platform.uow() as ctx:
        phones = set(
            ctx.session.scalars(
                select(StaffUser.phone).where(
                    StaffUser.role.in_(sorted(rules.APPROVER_ROLES)),
                    StaffUser.status == "active",
                    StaffUser.phone.is_not(None),
                )
            )
        )
    for phone in sorted(p for p in phones if p):
        platform.deliver(msisdn=phone)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


# -- requesters -------------------------------------------------------------------------------------


@router.post("/agent/subscribers/{msisdn}/vault")
def ask(
    request: Request,
    platform: PlatformDep,
    user: FrontLine,
    msisdn: str,
    operation: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=400)],
    date_from: Annotated[str | None, Form(max_length=10)] = None,
    date_to: Annotated[str | None, Form(max_length=10)] = None,
    name: Annotated[str | None, Form(max_length=64)] = None,
    id_type: Annotated[str | None, Form(max_length=16)] = None,
    id_number: Annotated[str | None, Form(max_length=32)] = None,
) -> Response:
    """Ask for one operation on the subscriber whose page this is."""
    if operation not in SUBSCRIBER_OPERATIONS:
        raise InvalidInput("ask for CDRs, location, identity or an identity change here", code="bad_operation")
    number = subscriber_param(platform, msisdn)
    identity = {"name": name or "", "id_type": id_type or "", "id_number": id_number or ""}
    with platform.uow() as ctx:
        who = _staff(ctx, user, request)
        vault.request_access(
            ctx,
            who,
            operation=operation,
            reason=reason,
            msisdn=number,
            date_from=_day(date_from),
            date_to=_day(date_to),
            identity=identity if operation == "identity_change" else None,
        )
    _deliver_to_approvers(platform)
    return see_other("/vault?done=vault_requested")


@router.post("/agent/subscribers/{msisdn}/break-glass")
def break_glass(
    request: Request,
    platform: PlatformDep,
    user: FrontLine,
    msisdn: str,
    operation: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=400)],
    date_from: Annotated[str | None, Form(max_length=10)] = None,
    date_to: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """An emergency read without approval (configured roles only): flagged, security alerted."""
    if operation not in BREAK_GLASS_OPERATIONS:
        raise InvalidInput("break-glass reads CDRs, location or identity only", code="bad_operation")
    number = subscriber_param(platform, msisdn)
    start, end = _day(date_from), _day(date_to)
    result = _act(
        platform,
        user,
        request,
        "break_glass",
        None,
        lambda ctx, who: vault.break_glass(
            ctx, who, operation=operation, reason=reason, msisdn=number, date_from=start, date_to=end
        ),
    )
    platform.deliver(msisdn=number)
    _deliver_to_approvers(platform)
    with platform.uow() as ctx:
        view = vault.get_request(ctx, result.request_id)
    return _no_store(render(request, "vault/result.html", user, {"result": result, "view": view}))


def _mine(platform: Platform, user: WebUser, request: Request) -> list[vault.RequestView]:
    with platform.uow() as ctx:
        return vault.my_requests(ctx, _staff(ctx, user, request))


@router.get("/vault")
def my_requests(request: Request, platform: PlatformDep, user: Requester) -> Response:
    views = _mine(platform, user, request)
    return render(request, "vault/mine.html", user, {"views": views, "version": _version(views), "poll": POLL_SECONDS})


@router.get("/vault/rows")
def my_rows(request: Request, platform: PlatformDep, user: Requester, v: str | None = None) -> Response:
    """The polled list: ``204`` when it is what the page shows already (``v``)."""
    views = _mine(platform, user, request)
    version = _version(views)
    if v == version:
        return Response(status_code=204)
    return render(request, "vault/_mine.html", user, {"views": views, "version": version, "poll": POLL_SECONDS})


@router.get("/vault/count")
def my_count(request: Request, platform: PlatformDep, user: Requester) -> Response:
    """The nav badge: approvals ready to use."""
    ready = sum(1 for v in _mine(platform, user, request) if v.status == rules.Status.APPROVED)
    return render(request, "vault/_count.html", user, {"count": ready, "label": "vault.badge_ready"})


@router.post("/vault/requests/{request_id}/use")
def use(request: Request, platform: PlatformDep, user: Requester, request_id: RowId) -> Response:
    """Use an approval once: the data unmasked on this answer only (an export: its CSV)."""
    result = _act(platform, user, request, "use", request_id, lambda ctx, who: vault.use(ctx, who, request_id))
    if result.msisdn:
        platform.deliver(msisdn=result.msisdn)
    if result.csv is not None:
        return _no_store(
            Response(
                "\ufeff" + result.csv,  # a BOM, so spreadsheet programs read the UTF-8 as such
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="mingbai-export-{result.request_id}.csv"'},
            )
        )
    with platform.uow() as ctx:
        view = vault.get_request(ctx, request_id)
    return _no_store(render(request, "vault/result.html", user, {"result": result, "view": view}))


@router.get("/ops/exports")
def exports(request: Request, platform: PlatformDep, user: Operator) -> Response:
    views = [v for v in _mine(platform, user, request) if v.operation == rules.Operation.EXPORT]
    return render(
        request,
        "vault/exports.html",
        user,
        {"views": views, "approvers": platform.settings.vault_export_approvers},
    )


@router.post("/ops/exports")
def ask_export(
    request: Request,
    platform: PlatformDep,
    user: Operator,
    of: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=400)],
    status: Annotated[str | None, Form(max_length=32)] = None,
    msisdn_prefix: Annotated[str | None, Form(max_length=32)] = None,
    service_code: Annotated[str | None, Form(max_length=32)] = None,
    sp_code: Annotated[str | None, Form(max_length=32)] = None,
) -> Response:
    """Ask for one export definition: what (subscribers or subscriptions) and its filters."""
    filters = {"status": status, "msisdn_prefix": msisdn_prefix, "service_code": service_code, "sp_code": sp_code}
    allowed = rules.EXPORT_KINDS.get(of, frozenset())
    definition = {"of": of, **{k: v.strip() for k, v in filters.items() if v and v.strip() and k in allowed}}
    with platform.uow() as ctx:
        vault.request_access(ctx, _staff(ctx, user, request), operation="export", reason=reason, export=definition)
    _deliver_to_approvers(platform)
    return see_other("/vault?done=vault_requested")


# -- security ---------------------------------------------------------------------------------------


def _queue(platform: Platform, user: WebUser, request: Request) -> dict[str, object]:
    """What waits for this approver and the reviews, with ``me`` (no approve button on one's own,
    though :func:`vault.pending_for` already leaves those out and the service refuses them)."""
    with platform.uow() as ctx:
        who = _staff(ctx, user, request)
        pending, reviews = vault.pending_for(ctx, who), vault.reviews_pending(ctx)
    return {
        "pending": pending,
        "reviews": reviews,
        "me": who.identity,
        "version": _version(pending + reviews),
        "poll": POLL_SECONDS,
    }


@router.get("/security/vault")
def queue(request: Request, platform: PlatformDep, user: Approver) -> Response:
    return render(request, "vault/queue.html", user, _queue(platform, user, request))


@router.get("/security/vault/rows")
def queue_rows(request: Request, platform: PlatformDep, user: Approver, v: str | None = None) -> Response:
    """The polled queue: ``204`` when unchanged, so a half-typed denial reason stays put."""
    context = _queue(platform, user, request)
    if v == context["version"]:
        return Response(status_code=204)
    return render(request, "vault/_queue.html", user, context)


@router.get("/security/vault/count")
def queue_count(request: Request, platform: PlatformDep, user: Approver) -> Response:
    """The nav badge: requests waiting for me plus break-glass accesses to review."""
    context = _queue(platform, user, request)
    count = len(context["pending"]) + len(context["reviews"])  # type: ignore[arg-type]
    return render(request, "vault/_count.html", user, {"count": count, "label": "vault.badge"})


@router.post("/security/vault/{request_id}/approve")
def approve(request: Request, platform: PlatformDep, user: Approver, request_id: RowId) -> Response:
    view = _act(platform, user, request, "approve", request_id, lambda ctx, who: vault.approve(ctx, who, request_id))
    if view.status == rules.Status.APPROVED:
        with platform.uow() as ctx:
            phone = ctx.session.scalar(
                select(StaffUser.phone).where(StaffUser.username == view.requester.removeprefix("staff:"))
            )
        if phone:
            platform.deliver(msisdn=phone)
    return see_other("/security/vault?done=vault_approved")


@router.post("/security/vault/{request_id}/deny")
def deny(
    request: Request,
    platform: PlatformDep,
    user: Approver,
    request_id: RowId,
    reason: Annotated[str, Form(max_length=400)],
) -> Response:
    _act(platform, user, request, "deny", request_id, lambda ctx, who: vault.deny(ctx, who, request_id, reason=reason))
    return see_other("/security/vault?done=vault_denied")


@router.post("/security/vault/{request_id}/review")
def review(
    request: Request,
    platform: PlatformDep,
    user: Approver,
    request_id: RowId,
    outcome: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=400)],
) -> Response:
    _act(
        platform,
        user,
        request,
        "review",
        request_id,
        lambda ctx, who: vault.review(ctx, who, request_id, outcome=outcome, note=note),
    )
    return see_other("/security/vault?done=vault_reviewed")


# -- the subscriber ---------------------------------------------------------------------------------

#: the role words of the access history, back to the role they name (for the English page)
_ROLE_OF_WORDS = {words: role for role, words in rules.ROLE_WORDS.items()}


@router.get("/me/access")
def my_access(request: Request, platform: PlatformDep, user: Subscriber) -> Response:
    """Who looked at my data: when, which unit and role, why (never a name)."""
    with platform.uow() as ctx:
        get_subscriber(ctx, user.msisdn)
        rows = vault.access_history(ctx, user.msisdn)
    return render(request, "me/access.html", user, {"rows": rows, "role_of": _ROLE_OF_WORDS})


def subscriber_vault_context(platform: Platform, user: WebUser) -> dict[str, object]:
    """What a subscriber's page needs for its vault forms."""
    roles = rules.break_glass_roles(platform.settings.vault_break_glass_roles)
    return {
        "vault_operations": SUBSCRIBER_OPERATIONS,
        "break_glass_operations": BREAK_GLASS_OPERATIONS if user.role.value in roles else (),
        "id_types": sorted(rules.ID_TYPES),
        "max_range_days": rules.MAX_RANGE_DAYS,
    }
