"""What every console page shares: who is signed in, which roles a route allows, the language,
and rendering a template with the CSRF token and the message catalog."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup

from mingbai.accounts.service import load_session
from mingbai.audit import service as audit
from mingbai.auth.service import Principal, Role
from mingbai.catalog.rules import yuan
from mingbai.clock import SHANGHAI
from mingbai.consoles import i18n
from mingbai.consoles.security import LANG_COOKIE, SESSION_COOKIE, csrf_token, mask_numbers, read_cookie
from mingbai.db import Ctx
from mingbai.errors import Forbidden, MingbaiError, NotFound
from mingbai.msisdn import mask_msisdn, normalize_msisdn
from mingbai.platform import Platform
from mingbai.sealing import SealError
from mingbai.web.deps import get_platform

PlatformDep = Annotated[Platform, Depends(get_platform)]

#: every role that can hold a console session
CONSOLE_ROLES = frozenset(Role) - {Role.SMSC, Role.REVIEWER}  # API-key roles: no console (yet)
#: staff who work on a subscriber's behalf (agent console)
FRONT_LINE = (Role.AGENT, Role.HALL, Role.SUPERVISOR)
#: who may read the operator dashboard and catalog
OVERSIGHT = (Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR)

#: each role's first page after sign-in
HOME = {
    Role.AGENT: "/agent",
    Role.HALL: "/agent",
    Role.SUPERVISOR: "/agent",
    Role.OPERATOR: "/ops",
    Role.AUDITOR: "/ops",
    Role.SECURITY: "/security/vault",
    Role.SP: "/sp",
    Role.SUBSCRIBER: "/me",
}

#: navigation: (path, message key, roles that see it)
NAV: list[tuple[str, str, frozenset[Role]]] = [
    ("/agent", "nav.agent", frozenset(FRONT_LINE)),
    ("/agent/disputes", "nav.disputes", frozenset(FRONT_LINE)),
    ("/ops/disputes", "nav.disputes", frozenset(OVERSIGHT)),
    ("/ops", "nav.dashboard", frozenset(OVERSIGHT)),
    ("/ops/catalog", "nav.catalog", frozenset(OVERSIGHT)),
    ("/vault", "nav.vault_mine", frozenset({*FRONT_LINE, Role.OPERATOR})),
    ("/ops/exports", "nav.vault_exports", frozenset({Role.OPERATOR})),
    ("/security/vault", "nav.vault_queue", frozenset({Role.SECURITY})),
    ("/security/sign-ins", "nav.sign_ins", frozenset({Role.SECURITY, Role.AUDITOR})),
    ("/security/audit", "nav.audit", frozenset({Role.SECURITY, Role.AUDITOR})),
    ("/sp", "nav.sp", frozenset({Role.SP})),
    ("/sp/keys", "nav.sp_keys", frozenset({Role.SP})),
    ("/sp/refunds", "nav.refunds", frozenset({Role.SP})),
    ("/me", "nav.me", frozenset({Role.SUBSCRIBER})),
    ("/me/disputes", "nav.my_disputes", frozenset({Role.SUBSCRIBER})),
    ("/me/access", "nav.my_access", frozenset({Role.SUBSCRIBER})),
]
#: nav links that carry a live count (polled): path → the count's URL
NAV_BADGES = {"/security/vault": "/security/vault/count", "/vault": "/vault/count"}


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    display_name: str

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def sp_code(self) -> str:
        assert self.principal.sp_code, "an SP user is always bound to an SP"
        return self.principal.sp_code

    @property
    def msisdn(self) -> str:
        assert self.principal.msisdn, "a subscriber session is always bound to a number"
        return self.principal.msisdn


def viewed(ctx: Ctx, user: WebUser, msisdn: str, what: str) -> None:
    """A staff member saw a subscriber's data on a console page: an audit entry in the page's
    own unit of work, so the page is not shown when the entry cannot be written (fail closed)."""
    audit.record_staff(
        ctx, actor=user.principal.actor, action="subscriber.view", subject_msisdn=msisdn, detail={"what": what}
    )


class SignInRequired(MingbaiError):
    status_code = 401
    code = "sign_in_required"


def current_user(request: Request, platform: Platform) -> WebUser | None:
    cached = getattr(request.state, "web_user", None)
    if cached is not None:
        assert isinstance(cached, WebUser)
        return cached
    token = read_cookie(request, SESSION_COOKIE)
    if not token:
        return None
    with platform.uow() as ctx:
        info = load_session(ctx, token)
    if info is None:
        return None
    user = WebUser(info.principal, info.display_name)
    request.state.web_user = user
    return user


def signed_in(*roles: Role) -> Callable[..., WebUser]:
    """Declare which roles may open a console route (the console's twin of ``require``)."""
    allowed = frozenset(roles)

    def dependency(request: Request, platform: PlatformDep) -> WebUser:
        user = current_user(request, platform)
        if user is None:
            raise SignInRequired("sign in first")
        if user.role not in allowed:
            raise Forbidden(f"role {user.role.value} may not open this page")
        return user

    dependency.__name__ = "signed_in_" + "_".join(sorted(r.value for r in allowed))
    dependency.allowed_roles = allowed  # type: ignore[attr-defined]
    return dependency


# -- the role aliases the consoles' pages share --------------------------------------------------

#: agents, hall clerks and their supervisors
FrontLine = Annotated[WebUser, Depends(signed_in(*FRONT_LINE))]
#: those who watch over the front line (OVERSIGHT)
Oversight = Annotated[WebUser, Depends(signed_in(*OVERSIGHT))]
Operator = Annotated[WebUser, Depends(signed_in(Role.OPERATOR))]
#: a subscriber on the portal, bound to one number
Subscriber = Annotated[WebUser, Depends(signed_in(Role.SUBSCRIBER))]
#: an SP's user, bound to one SP
SpUser = Annotated[WebUser, Depends(signed_in(Role.SP))]


def public() -> Callable[..., None]:
    """Declare a route open to everyone (sign-in pages, language switch)."""

    def dependency() -> None:
        return None

    dependency.__name__ = "public"
    dependency.allowed_roles = None  # type: ignore[attr-defined]
    return dependency


# -- language -----------------------------------------------------------------------------------


def lang_of(request: Request) -> str:
    lang = read_cookie(request, LANG_COOKIE) or i18n.DEFAULT
    return lang if lang in i18n.LANGS else i18n.DEFAULT


# -- rendering ---------------------------------------------------------------------------------

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(SHANGHAI).strftime(fmt) if value else "—"


def _day(value: date | None) -> str:
    return value.isoformat() if value else "—"


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{yuan(fen, cents=True)}"


templates.env.filters["local"] = _local
templates.env.filters["day"] = _day
templates.env.filters["yuan"] = _yuan
templates.env.filters["mask"] = lambda v: mask_msisdn(v) if v else "—"


@pass_context
def _actor(context: Any, value: str | None) -> str:
    return i18n.actor_label(str(context.get("lang") or i18n.DEFAULT), value, mask_numbers)


templates.env.filters["actor"] = _actor
templates.env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"


def _safe_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: nothing in it can close the tag."""
    text = json.dumps(value, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


templates.env.filters["safe_json"] = _safe_json


def safe_next(raw: str | None, default: str = "/console") -> str:
    """Only a local path may follow sign-in or a language switch (no open redirect)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return default
    return raw


def nav_for(user: WebUser | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    return [(path, key) for path, key, roles in NAV if user.role in roles]


#: what a subscriber reference is for (bound into it: a reference made elsewhere does not open here)
_SUBSCRIBER_REF = "console subscriber page"


def subscriber_ref(request: Request, msisdn: str) -> str:
    """How staff pages name a subscriber in their links and redirects: an opaque reference
    (``Sealer.reference``), so a full number never travels in a URL (browser history, proxies'
    logs, a Referer header) while the page itself shows it only masked (R13)."""
    return get_platform(request).settings.sealer.reference(msisdn, _SUBSCRIBER_REF)


def subscriber_param(platform: Platform, value: str) -> str:
    """A subscriber route's path parameter as a number: the reference the pages link with, or a
    number typed into the address bar by hand (still accepted)."""
    if "." not in value:
        return normalize_msisdn(value)
    try:
        return normalize_msisdn(platform.settings.sealer.open_reference(value, _SUBSCRIBER_REF))
    except SealError:
        raise NotFound("no such subscriber page (the link is not one of ours, or its key was dropped)") from None


def by_reference(request: Request, value: str, number: str) -> Response | None:
    """A subscriber page opened by a number typed into the address bar: the same page under its
    reference (303), so the number leaves the address bar and every link built from it (the
    language switch); None when it was opened by reference already."""
    if "." in value:
        return None
    path = request.url.path.replace(f"/{value}", f"/{subscriber_ref(request, number)}", 1)
    return see_other(f"{path}?{request.url.query}" if request.url.query else path)


def render(
    request: Request,
    name: str,
    user: WebUser | None,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    t = i18n.translator(lang)
    done = request.query_params.get("done")
    values: dict[str, Any] = {
        "t": t,
        "tr": i18n.enum_translator(lang),
        "lang": lang,
        "other_lang": i18n.other(lang),
        "user": user,
        "csrf": csrf_token(request),
        "nav": nav_for(user),
        "nav_badges": NAV_BADGES,
        "ref": lambda msisdn: subscriber_ref(request, msisdn),
        "notice": t("done." + done) if done and i18n.has("done." + done) else None,
        "error": None,
    }
    values.update(context or {})
    return templates.TemplateResponse(request, name, values, status_code=status_code, headers=dict(headers or {}))


def see_other(url: str) -> Response:
    """After a form post: go to the page that shows the result (POST → redirect → GET)."""
    return RedirectResponse(url, status_code=303)


def sign_in_url(request: Request) -> str:
    path = request.url.path if request.method == "GET" else "/console"
    return "/login?next=" + quote(path, safe="/")
