"""Operator dashboard (orders, confirmations, unsubscriptions, "0000" queries, reminders; per SP
and per day) and catalog administration (SPs, services, suspension); the sign-in log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, get_args

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
from mingbai.consoles.web import OVERSIGHT, PlatformDep, WebUser, lang_of, render, see_other, signed_in
from mingbai.errors import InvalidInput, MingbaiError
from mingbai.messaging.kinds import REMINDER_KINDS

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Oversight = Annotated[WebUser, Depends(signed_in(*OVERSIGHT))]
Operator = Annotated[WebUser, Depends(signed_in(Role.OPERATOR))]
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
    }
    return render(request, "ops/dashboard.html", user, context)


def _catalog_page(request: Request, platform: PlatformDep, user: WebUser, **extra: object) -> Response:
    with platform.uow() as ctx:
        sps = catalog.list_sps(ctx)
        services = catalog.list_services(ctx)
    status = int(str(extra.pop("status_code", 200)))
    context = {"sps": sps, "services": services, "types": SERVICE_TYPES, "billings": BILLINGS, **extra}
    return render(request, "ops/catalog.html", user, context, status_code=status)


@router.get("/ops/catalog")
def catalog_page(request: Request, platform: PlatformDep, user: Oversight) -> Response:
    return _catalog_page(request, platform, user)


@router.post("/ops/catalog/sps/{code}/status")
def sp_status(
    platform: PlatformDep, user: Operator, code: str, status: Annotated[str, Form(pattern="^(active|suspended)$")]
) -> Response:
    with platform.uow() as ctx:
        catalog.set_sp_status(ctx, code, status)
    return see_other(f"/ops/catalog?done=sp_{status}")


@router.post("/ops/catalog/services/{code}/status")
def service_status(
    platform: PlatformDep, user: Operator, code: str, status: Annotated[str, Form(pattern="^(active|suspended)$")]
) -> Response:
    with platform.uow() as ctx:
        catalog.set_service_status(ctx, code, status)
    return see_other(f"/ops/catalog?done=service_{status}")


def _invalid(request: Request, platform: PlatformDep, user: WebUser, exc: Exception) -> Response:
    t = i18n.translator(lang_of(request))
    if isinstance(exc, ValidationError):
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    else:
        detail = exc.message if isinstance(exc, MingbaiError) else str(exc)
    return _catalog_page(request, platform, user, error=f"{t('ops.invalid')}: {detail}", status_code=422)


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
                    "name": name.strip(),
                    "hotline": hotline.strip(),
                    "contact": contact.strip() or None,
                    "access_number": access_number.strip() or None,
                    **kept,
                }
            )
            catalog.save_sp(ctx, data)
    except (ValidationError, MingbaiError) as exc:
        return _invalid(request, platform, user, exc)
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
                    "name": name.strip(),
                    "type": type.strip(),
                    "billing": billing.strip(),
                    "price_fen": price_fen,
                    "mo_keyword": mo_keyword.strip() or None,
                    "description": description.strip() or None,
                    **kept,
                }
            )
            catalog.save_service(ctx, data)
    except (ValidationError, MingbaiError) as exc:
        return _invalid(request, platform, user, exc)
    return see_other("/ops/catalog?done=service_saved")


@router.get("/security/sign-ins")
def sign_ins(request: Request, platform: PlatformDep, user: SignInReaders, failures: bool = False) -> Response:
    with platform.uow() as ctx:
        rows = sign_in_log(ctx, limit=200, failures_only=failures)
    return render(request, "security/sign_ins.html", user, {"rows": rows, "failures": failures})
