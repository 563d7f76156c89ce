"""The demo handset: pick a subscriber, text 10086 (or an SP's number), read the replies.

Works without JavaScript (plain form posts); htmx, when present, refreshes only the thread.
It shows anyone's codes and sends as anyone, so it exists only in the demo (``MINGBAI_DEMO=1``,
``mingbai --demo``, ``scripts/demo``) with the in-process gateway (``Platform.handset_enabled``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from mingbai.catalog.rules import price_text
from mingbai.catalog.service import list_sps, list_subscribers
from mingbai.clock import local_text
from mingbai.consoles.security import csrf_protect, csrf_token
from mingbai.consoles.web import public
from mingbai.errors import MingbaiError, NotFound
from mingbai.messaging.service import conversation
from mingbai.msisdn import normalize_msisdn
from mingbai.platform import Platform
from mingbai.spam.reports import REPORT_NUMBER
from mingbai.subscriptions.service import list_subscriptions
from mingbai.web.deps import get_platform

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["local_time"] = lambda dt: local_text(dt, "%m-%d %H:%M:%S")
templates.env.filters["price"] = price_text
templates.env.globals["csrf_token"] = csrf_token
# a demo page open to all (it exists only in the demo); its form carries a CSRF token
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect), Depends(public())])

PlatformDep = Annotated[Platform, Depends(get_platform)]


def _guard(platform: Platform) -> None:
    if not platform.handset_enabled:
        raise NotFound("the demo handset exists only in the demo (MINGBAI_DEMO=1, scripts/demo)")


def _context(platform: Platform, msisdn: str | None, error: str | None = None) -> dict[str, object]:
    with platform.uow() as ctx:
        subscribers = list_subscribers(ctx, limit=50)
        numbers = [("10086", "10086 中国移动"), (REPORT_NUMBER, f"{REPORT_NUMBER} 垃圾短信举报")] + [
            (sp.access_number, f"{sp.access_number} {sp.name}") for sp in list_sps(ctx) if sp.access_number
        ]
        current = msisdn or (subscribers[0].msisdn if subscribers else None)
        # the phone's screen, codes included: this page exists only in the demo (_guard)
        thread = conversation(ctx, current, reveal=True) if current else []
        subs = list_subscriptions(ctx, msisdn=current, active_only=True) if current else []
    return {
        "subscribers": subscribers,
        "msisdn": current,
        "thread": thread,
        "numbers": numbers,
        "subs": subs,
        "error": error,
    }


@router.get("/", response_class=HTMLResponse)
@router.get("/handset", response_class=HTMLResponse)
def handset(request: Request, platform: PlatformDep, msisdn: str | None = None) -> Response:
    _guard(platform)
    return templates.TemplateResponse(request, "handset.html", _context(platform, msisdn))


@router.get("/handset/thread", response_class=HTMLResponse)
def thread(request: Request, platform: PlatformDep, msisdn: str) -> Response:
    _guard(platform)
    return templates.TemplateResponse(request, "_thread.html", _context(platform, normalize_msisdn(msisdn)))


@router.post("/handset/send", response_class=HTMLResponse)
def send(
    request: Request,
    platform: PlatformDep,
    msisdn: Annotated[str, Form()],
    text: Annotated[str, Form(max_length=2000)] = "",
    to: Annotated[str, Form()] = "10086",
) -> Response:
    _guard(platform)
    error = None
    try:
        msisdn = normalize_msisdn(msisdn)
        platform.intake.receive(msisdn, to, text)
    except MingbaiError as exc:
        error = exc.message
    if request.headers.get("HX-Request"):
        return templates.TemplateResponse(request, "_thread.html", _context(platform, msisdn, error))
    return RedirectResponse(f"/handset?msisdn={msisdn}", status_code=303)
