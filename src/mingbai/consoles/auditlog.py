"""The auditor console (issue 16): search the audit log by subject number, staff member,
operation and time; export what was found as CSV; verify the chain. For auditors and security.

Every search and export is itself a staff action, recorded in the same unit of work as it runs."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mingbai.audit import service as audit
from mingbai.auth.service import Role
from mingbai.clock import local_text, parse_instant
from mingbai.consoles import i18n
from mingbai.consoles.security import csrf_protect
from mingbai.consoles.web import (
    PlatformDep,
    WebUser,
    lang_of,
    render,
    see_other,
    signed_in,
    subscriber_param,
    subscriber_ref,
)
from mingbai.db import Ctx
from mingbai.errors import InvalidInput, MingbaiError
from mingbai.msisdn import is_msisdn, normalize_msisdn
from mingbai.web.deps import get_platform

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Auditors = Annotated[WebUser, Depends(signed_in(Role.AUDITOR, Role.SECURITY))]

#: rows on a page; an export carries up to the search's ceiling
PAGE_ROWS = 200
EXPORT_ROWS = 10_000


def _instant(value: str, *, end: bool) -> datetime | None:
    """A form's date (``2026-04-10``, Shanghai) or date and time; an end date counts the whole day."""
    value = value.strip()
    if not value:
        return None
    try:
        at = parse_instant(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_time") from None
    return at + timedelta(days=1) if end and len(value) == 10 else at


def _find(ctx: Ctx, user: WebUser, q: dict[str, str], *, limit: int, action: str) -> list[audit.Found]:
    found = audit.search(
        ctx,
        msisdn=q["msisdn"] or None,
        staff=q["staff"] or None,
        action=q["action"] or None,
        since=_instant(q["since"], end=False),
        until=_instant(q["until"], end=True),
        limit=limit,
    )
    audit.record_staff(
        ctx,
        actor=user.principal.actor,
        action=action,
        subject_msisdn=q["msisdn"] or None,
        subject=f"staff:{q['staff']}" if q["staff"] and not q["msisdn"] else None,
        detail={"action": q["action"], "since": q["since"], "until": q["until"], "found": len(found)},
    )
    return found


def _query(
    request: Request,
    msisdn: str = "",
    subject: str = "",
    staff: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
) -> dict[str, str]:
    """The search's fields from the query string, trimmed (the page and its CSV export). The
    subscriber travels as ``subject``, an opaque reference (the page's own links and the form's
    redirect), or as ``msisdn`` typed by hand."""
    number = msisdn.strip()[:20]
    if subject:
        number = subscriber_param(get_platform(request), subject.strip()[:120])
    return {
        "msisdn": number,
        "staff": staff.strip()[:80],
        "action": action.strip()[:48],
        "since": since.strip()[:32],
        "until": until.strip()[:32],
    }


Query = Annotated[dict[str, str], Depends(_query)]


def _address(request: Request, path: str, q: dict[str, str]) -> str:
    """``path`` with the search in its query string, the subscriber as a reference."""
    fields = {k: v for k, v in q.items() if v and k != "msisdn"}
    if q["msisdn"]:
        fields = {"subject": subscriber_ref(request, normalize_msisdn(q["msisdn"])), **fields}
    return f"{path}?{urlencode(fields)}" if fields else path


@router.get("/security/audit")
def audit_page(
    request: Request,
    platform: PlatformDep,
    user: Auditors,
    q: Query,
) -> Response:
    if "msisdn" in request.query_params and is_msisdn(q["msisdn"]):
        return see_other(_address(request, "/security/audit", q))  # a typed number leaves the address bar
    return _results(request, platform, user, q)


@router.post("/security/audit")
def audit_search(
    request: Request,
    platform: PlatformDep,
    user: Auditors,
    msisdn: Annotated[str, Form(max_length=20)] = "",
    staff: Annotated[str, Form(max_length=80)] = "",
    action: Annotated[str, Form(max_length=48)] = "",
    since: Annotated[str, Form(max_length=32)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """The search form posts, so a number typed into it never sits in an address."""
    q = _query(request, msisdn=msisdn, staff=staff, action=action, since=since, until=until)
    if q["msisdn"] and not is_msisdn(q["msisdn"]):
        return _results(request, platform, user, q)  # says what is wrong with it, on this page
    return see_other(_address(request, "/security/audit", q))


def _results(request: Request, platform: PlatformDep, user: WebUser, q: dict[str, str]) -> Response:
    error = None
    rows: list[audit.Found] = []
    try:
        with platform.uow() as ctx:
            rows = _find(ctx, user, q, limit=PAGE_ROWS, action="audit.search")
    except MingbaiError as exc:
        t = i18n.translator(lang_of(request))
        error = t("audit.bad_query") + ": " + exc.message
    export = _address(request, "/security/audit/export.csv", q) if not error else "/security/audit/export.csv"
    return render(
        request,
        "auditlog/search.html",
        user,
        {"q": q, "rows": rows, "error": error, "export": export},
        status_code=422 if error else 200,
    )


def _cell(value: str) -> str:
    """No cell a spreadsheet would run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get("/security/audit/export.csv")
def audit_export(
    request: Request,
    platform: PlatformDep,
    user: Auditors,
    q: Query,
) -> Response:
    with platform.uow() as ctx:
        rows = _find(ctx, user, q, limit=EXPORT_ROWS, action="audit.export")
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["seq", "at", "actor", "role", "action", "subject", "address", "outcome", "detail"])
    for f in rows:
        w.writerow(
            [f.seq, local_text(f.at)]
            + [_cell(v) for v in (f.actor, f.role, f.action, f.subject, f.address, f.outcome, f.detail)]
        )
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM: spreadsheets then read the Chinese right
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


@router.post("/security/audit/verify")
def audit_verify(request: Request, platform: PlatformDep, user: Auditors) -> Response:
    """Walk the chain and its signed checkpoints; the verdict replaces the button's panel (htmx)
    or is a page of its own."""
    with platform.uow() as ctx:
        report = audit.verify(ctx)
    name = "auditlog/_verify.html" if request.headers.get("HX-Request") else "auditlog/verify.html"
    return render(request, name, user, {"report": report})
