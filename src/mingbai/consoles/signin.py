"""Sign-in pages: staff by password, subscribers by a one-time SMS code; sign-out; language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import Response

from mingbai.accounts.service import end_session, request_login_code, sign_in_code, sign_in_password
from mingbai.consoles import i18n
from mingbai.consoles.security import (
    LANG_COOKIE,
    SESSION_COOKIE,
    csrf_protect,
    delete_cookie,
    read_cookie,
    set_cookie,
)
from mingbai.consoles.web import (
    CONSOLE_ROLES,
    HOME,
    PlatformDep,
    WebUser,
    current_user,
    lang_of,
    public,
    render,
    safe_next,
    see_other,
    signed_in,
)
from mingbai.msisdn import is_msisdn, normalize_msisdn
from mingbai.platform import Platform
from mingbai.ratelimit import RateLimiter

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Public = Depends(public())
AnySignedIn = Annotated[WebUser, Depends(signed_in(*CONSOLE_ROLES))]

_REFUSAL = {
    "bad_credentials": "auth.bad_credentials",
    "locked": "auth.locked",
    "disabled": "auth.bad_credentials",
    "no_code": "auth.no_code",
}


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(request: Request, platform: PlatformDep, *, status_code: int = 200, **extra: object) -> Response:
    context: dict[str, object] = {
        "next": safe_next(request.query_params.get("next") or str(extra.pop("next", "") or "")),
        "msisdn": "",
        "code_sent": False,
        "handset": platform.handset_enabled,
    }
    context.update(extra)
    return render(request, "login.html", current_user(request, platform), context, status_code=status_code)


@router.get("/login", dependencies=[Public])
def login_page(request: Request, platform: PlatformDep) -> Response:
    return _login_page(request, platform)


@router.post("/login/staff", dependencies=[Public])
def login_staff(
    request: Request,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    with platform.uow() as ctx:
        result = sign_in_password(ctx, username=username, password=password, address=_address(request))
    t = i18n.translator(lang_of(request))
    if not result.ok or result.token is None or result.principal is None:
        status = 429 if result.reason == "locked" else 401
        return _login_page(
            request, platform, status_code=status, error=t(_REFUSAL[result.reason]), username=username, next=next
        )
    response = see_other(safe_next(next, HOME[result.principal.role]))
    set_cookie(request, response, SESSION_COOKIE, result.token)
    return response


def _code_request_wait(request: Request, platform: Platform, msisdn: str) -> int | None:
    """Seconds to wait when this address, or anyone for this number, asked for codes too often
    (every request counts, subscriber or not, so the limit tells nothing about the number)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    settings = platform.settings
    waits = []
    for key, limit in (
        (f"login-code:address:{_address(request)}", settings.login_codes_per_address_per_hour),
        (f"login-code:number:{normalize_msisdn(msisdn)}", settings.login_codes_per_number_per_hour),
    ):
        if limit > 0 and (wait := limiter.hit(key, limit=limit, window=3600)) is not None:
            waits.append(wait)
    return max(waits) if waits else None


@router.post("/login/sms/request", dependencies=[Public])
def login_sms_request(
    request: Request,
    platform: PlatformDep,
    background: BackgroundTasks,
    msisdn: Annotated[str, Form(max_length=20)],
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    t = i18n.translator(lang_of(request))
    if not is_msisdn(msisdn):
        return _login_page(request, platform, status_code=422, error=t("auth.bad_msisdn"), msisdn=msisdn, next=next)
    wait = _code_request_wait(request, platform, msisdn)
    if wait is not None:
        page = _login_page(request, platform, status_code=429, error=t("auth.too_many_codes"), msisdn=msisdn, next=next)
        page.headers["Retry-After"] = str(wait)
        return page
    with platform.uow() as ctx:
        request_login_code(ctx, msisdn=msisdn, address=_address(request))
    # handed to the gateway after the answer, for every number alike: the answer's timing must
    # not tell whether an SMS went out (for a non-subscriber there is nothing to hand over)
    background.add_task(platform.deliver, msisdn=normalize_msisdn(msisdn))
    # the same answer whether or not the number is a subscriber: the page must not tell
    return _login_page(request, platform, notice=t("auth.code_sent"), code_sent=True, msisdn=msisdn, next=next)


@router.post("/login/sms/verify", dependencies=[Public])
def login_sms_verify(
    request: Request,
    platform: PlatformDep,
    msisdn: Annotated[str, Form(max_length=20)],
    code: Annotated[str, Form(max_length=12)],
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    with platform.uow() as ctx:
        result = sign_in_code(ctx, msisdn=msisdn, code=code, address=_address(request))
    t = i18n.translator(lang_of(request))
    if not result.ok or result.token is None:
        status = 429 if result.reason == "locked" else 401
        return _login_page(
            request,
            platform,
            status_code=status,
            error=t(_REFUSAL.get(result.reason, "auth.bad_credentials")),
            code_sent=True,
            msisdn=msisdn,
            next=next,
        )
    response = see_other(safe_next(next, "/me"))
    set_cookie(request, response, SESSION_COOKIE, result.token)
    return response


@router.post("/logout")
def logout(request: Request, platform: PlatformDep, user: AnySignedIn) -> Response:
    token = read_cookie(request, SESSION_COOKIE, "") or ""
    with platform.uow() as ctx:
        end_session(ctx, token)
    response = see_other("/login?done=signed_out")
    delete_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/console")
def console_home(user: AnySignedIn) -> Response:
    return see_other(HOME[user.role])


@router.get("/lang", dependencies=[Public])
def switch_language(request: Request, to: str = i18n.DEFAULT, next: str = "/console") -> Response:
    response = see_other(safe_next(next))
    set_cookie(request, response, LANG_COOKIE, to if to in i18n.LANGS else i18n.DEFAULT, max_age=365 * 86400)
    return response
