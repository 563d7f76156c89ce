"""Operator dashboard (orders, confirmations, unsubscriptions, "0000" queries, reminders; per SP
and per day) and catalog administration (SPs, services, suspension); the sign-in log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from mingbai.accounts.service import sign_in_log
from mingbai.auth.service import Role
from mingbai.catalog import service as catalog
from mingbai.catalog.models import Service, Sp
from mingbai.catalog.rules import Billing, ServiceIn, ServiceType, SpIn
from mingbai.clock import local_date
from mingbai.consoles import dashboard, i18n
from mingbai.consoles.security import csrf_protect
from mingbai.consoles.web import (
    Operator,
    Oversight,
    PlatformDep,
    WebUser,
    lang_of,
    render,
    see_other,
    signed_in,
)
from mingbai.errors import InvalidInput, MingbaiError
from mingbai.messaging.kinds import REMINDER_KINDS

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

SignInReaders = Annotated[WebUser, Depends(signed_in(Role.SECURITY, Role.AUDITOR))]

DEFAULT_DAYS = 14
SERVICE_TYPES = get_args(ServiceType)
BILLINGS = get_args(Billing)


def _parse_day(raw: str | None, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"not a date: {raw[:20]!r} (YYYY-MM-DD)", code="bad_date") from None


def _chart_labels(t: Callable[..., str], tr: Callable[[str, str | None], str]) -> dict[str, str]:
    labels = {k: t("chart." + k) for k in ("orders", "confirmed", "unsubscribed", "queries", "rate")}
    return labels | {k: tr("kind", k) for k in REMINDER_KINDS}


@router.get("/ops")
def ops_dashboard(
    request: Request,
    platform: PlatformDep,
    user: Oversight,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    with platform.uow() as ctx:
        today = local_date(ctx.now())
        end_day = _parse_day(end, today)
        start_day = _parse_day(start, end_day - timedelta(days=DEFAULT_DAYS - 1))
        board = dashboard.dashboard(ctx, start_day, end_day)
    context = {
        "board": board,
        "totals": board.totals,
        "chart_json": board.chart_data(),
        "chart_labels": _chart_labels(i18n.translator(lang_of(request)), i18n.enum_translator(lang_of(request))),
        "kinds": REMINDER_KINDS,
        "max_days": dashboard.MAX_DAYS,
    }
    return render(request, "ops/dashboard.html", user, context)


def _catalog_page(request: Request, platform: PlatformDep, user: WebUser, **extra: object) -> Response:
    with platform.uow() as ctx:
        sps = catalog.list_sps(ctx)
        services = catalog.list_services(ctx)
        changes = catalog.status_changes(ctx)
    status = int(str(extra.pop("status_code", 200)))
    sp_form: dict[str, Any] = dict(extra.pop("sp_form", None) or {})  # type: ignore[call-overload]
    service_form: dict[str, Any] = dict(extra.pop("service_form", None) or {})  # type: ignore[call-overload]
    # "edit" on a row: that record's current values in the form
    edit_sp, edit_service = request.query_params.get("edit_sp"), request.query_params.get("edit_service")
    if edit_sp and not sp_form:
        sp_form = next((_sp_values(s) for s in sps if s.code == edit_sp), {})
    if edit_service and not service_form:
        service_form = next((_service_values(s) for s in services if s.code == edit_service), {})
    context = {
        "sps": sps,
        "services": services,
        "types": SERVICE_TYPES,
        "billings": BILLINGS,
        "sp_form": sp_form,
        "service_form": service_form,
        "changes": changes,
        **extra,
    }
    return render(request, "ops/catalog.html", user, context, status_code=status)


def _sp_values(sp: Any) -> dict[str, Any]:
    return {k: getattr(sp, k) or "" for k in ("code", "name", "hotline", "contact", "access_number")}


def _service_values(svc: Any) -> dict[str, Any]:
    values = {k: getattr(svc, k) for k in ("code", "name", "type", "billing", "price_fen")}
    return values | {
        "sp": svc.sp_code,
        "mo_keyword": svc.mo_keyword or "",
        "description": getattr(svc, "description", None) or "",
    }


def _kept(new: str, old: str | None) -> str | None:
    """A blank optional field keeps what is stored: saving a form never erases by omission."""
    return new.strip() or old or None


@router.get("/ops/catalog")
def catalog_page(request: Request, platform: PlatformDep, user: Oversight) -> Response:
    return _catalog_page(request, platform, user)


StatusForm = Annotated[str, Form(pattern="^(active|suspended)$")]
ReasonForm = Annotated[str, Form(max_length=500)]


@router.post("/ops/catalog/sps/{code}/status")
def sp_status(
    request: Request, platform: PlatformDep, user: Operator, code: str, status: StatusForm, reason: ReasonForm = ""
) -> Response:
    try:
        with platform.uow() as ctx:
            catalog.set_sp_status(ctx, code, status, actor=user.principal.actor, reason=reason)
    except InvalidInput as exc:
        return _invalid(request, platform, user, exc)
    return see_other(f"/ops/catalog?done=sp_{status}")


@router.post("/ops/catalog/services/{code}/status")
def service_status(
    request: Request, platform: PlatformDep, user: Operator, code: str, status: StatusForm, reason: ReasonForm = ""
) -> Response:
    try:
        with platform.uow() as ctx:
            catalog.set_service_status(ctx, code, status, actor=user.principal.actor, reason=reason)
    except InvalidInput as exc:
        return _invalid(request, platform, user, exc)
    return see_other(f"/ops/catalog?done=service_{status}")


def _invalid(
    request: Request, platform: PlatformDep, user: WebUser, exc: Exception, **form: dict[str, Any]
) -> Response:
    """The page again with the error, and the form as it was filled in (nothing typed is lost)."""
    t = i18n.translator(lang_of(request))
    if isinstance(exc, ValidationError):
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    else:
        detail = exc.message if isinstance(exc, MingbaiError) else str(exc)
    return _catalog_page(request, platform, user, error=f"{t('ops.invalid')}: {detail}", status_code=422, **form)


@router.post("/ops/catalog/sps")
def save_sp(
    request: Request,
    platform: PlatformDep,
    user: Operator,
    code: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=64)],
    hotline: Annotated[str, Form(max_length=20)],
    contact: Annotated[str, Form(max_length=64)] = "",
    access_number: Annotated[str, Form(max_length=21)] = "",
) -> Response:
    try:
        with platform.uow() as ctx:
            # editing keeps what this form does not show (status, credit points)
            existing = ctx.session.get(Sp, code.strip())
            kept = {"status": existing.status, "credit_points": existing.credit_points} if existing else {}
            data = SpIn.model_validate(
                {
                    "code": code.strip(),
                    "name": name.strip() or (existing.name if existing else ""),
                    "hotline": hotline.strip() or (existing.hotline if existing else ""),
                    "contact": _kept(contact, existing.contact if existing else None),
                    "access_number": _kept(access_number, existing.access_number if existing else None),
                    **kept,
                }
            )
            catalog.save_sp(ctx, data, actor=user.principal.actor)
    except (ValidationError, MingbaiError) as exc:
        typed = {"code": code, "name": name, "hotline": hotline, "contact": contact, "access_number": access_number}
        return _invalid(request, platform, user, exc, sp_form=typed)
    return see_other("/ops/catalog?done=sp_saved")


@router.post("/ops/catalog/services")
def save_service(
    request: Request,
    platform: PlatformDep,
    user: Operator,
    code: Annotated[str, Form(max_length=32)],
    sp: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=64)],
    type: Annotated[str, Form(max_length=16)],
    billing: Annotated[str, Form(max_length=16)],
    price_fen: Annotated[int, Form(ge=0, le=100_000_00)],
    mo_keyword: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        with platform.uow() as ctx:
            existing = ctx.session.get(Service, code.strip())
            kept = (
                {"status": existing.status, "scope": existing.scope, "attributes": existing.attributes}
                if existing
                else {}
            )
            data = ServiceIn.model_validate(
                {
                    "code": code.strip(),
                    "sp": sp.strip(),
                    "name": name.strip() or (existing.name if existing else ""),
                    "type": type.strip(),
                    "billing": billing.strip(),
                    "price_fen": price_fen,
                    "mo_keyword": _kept(mo_keyword, existing.mo_keyword if existing else None),
                    "description": _kept(description, existing.description if existing else None),
                    **kept,
                }
            )
            catalog.save_service(ctx, data, actor=user.principal.actor)
    except (ValidationError, MingbaiError) as exc:
        typed = {
            "code": code,
            "sp": sp,
            "name": name,
            "type": type,
            "billing": billing,
            "price_fen": price_fen,
            "mo_keyword": mo_keyword,
            "description": description,
        }
        return _invalid(request, platform, user, exc, service_form=typed)
    return see_other("/ops/catalog?done=service_saved")


@router.get("/security/sign-ins")
def sign_ins(request: Request, platform: PlatformDep, user: SignInReaders, failures: bool = False) -> Response:
    with platform.uow() as ctx:
        rows = sign_in_log(ctx, limit=200, failures_only=failures)
    return render(request, "security/sign_ins.html", user, {"rows": rows, "failures": failures})
