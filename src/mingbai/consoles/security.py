"""Browser-facing protections for every page: CSRF tokens, cookies, security headers, and a
log filter that keeps MSISDNs out of the access log.

CSRF uses a *signed double-submit* token: a random nonce lives in an HttpOnly cookie, and every
form (and every htmx request, in a header) carries ``nonce.HMAC(secret, nonce | session)``.
A forged cross-site post has the cookie but cannot read or compute the token; binding the
MAC to the session cookie means a token seen before sign-in is useless after it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from starlette.datastructures import FormData

from mingbai.errors import Forbidden
from mingbai.msisdn import mask_msisdn

SESSION_COOKIE = "mb_session"
CSRF_COOKIE = "mb_csrf"
LANG_COOKIE = "mb_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: only our own origin may run scripts, load styles, receive forms or frame us
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: the OpenAPI description is JSON read by /docs (whose page, like every page, has the CSP)
_CSP_EXEMPT = ("/openapi.json",)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def secure_cookies(request: Request) -> bool:
    """Whether this answer's cookies are ``Secure`` and ``__Host-`` named: MINGBAI_SECURE_COOKIES
    is ``auto`` (by the request's scheme, X-Forwarded-Proto from a trusted proxy included),
    ``always`` or ``never``."""
    platform = getattr(request.app.state, "platform", None)
    mode = platform.settings.secure_cookies if platform is not None else "auto"
    if mode == "always":
        return True
    if mode == "never":
        return False
    return is_https(request)


def cookie_name(request: Request, name: str) -> str:
    """The name a cookie carries on this request: ``__Host-`` prefixed when secure, so the browser
    keeps it only if it is Secure, has Path=/ and no Domain (no sibling host can plant or shadow it)."""
    return f"__Host-{name}" if secure_cookies(request) else name


def read_cookie(request: Request, name: str, default: str | None = None) -> str | None:
    """A cookie we set, under the name this request uses: over https only the prefixed one counts."""
    return request.cookies.get(cookie_name(request, name), default)


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    """Every cookie we set: HttpOnly, SameSite=Lax, Path=/, no Domain; Secure and ``__Host-``
    prefixed whenever the page came over https (or MINGBAI_SECURE_COOKIES=always)."""
    secure = secure_cookies(request)
    response.set_cookie(
        cookie_name(request, name), value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=secure
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    secure = secure_cookies(request)
    response.delete_cookie(cookie_name(request, name), path="/", httponly=True, samesite="lax", secure=secure)


def _binding(request: Request) -> str:
    token = read_cookie(request, SESSION_COOKIE, "")
    return hashlib.sha256(token.encode()).hexdigest() if token else "anonymous"


def _mac(secret: bytes, nonce: str, binding: str) -> str:
    return hmac.new(secret, f"csrf|{nonce}|{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_nonce(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None)
    if not nonce:
        nonce = read_cookie(request, CSRF_COOKIE) or secrets.token_urlsafe(24)
        request.state.csrf_nonce = nonce
    return str(nonce)


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms and htmx header."""
    nonce = csrf_nonce(request)
    return f"{nonce}.{_mac(_secret(request), nonce, _binding(request))}"


def _secret(request: Request) -> bytes:
    from mingbai.accounts.service import web_secret

    cached = getattr(request.app.state, "web_secret", None)
    if cached is None:
        with request.app.state.platform.uow() as ctx:
            cached = web_secret(ctx)
        request.app.state.web_secret = cached
    assert isinstance(cached, bytes)
    return cached


def check_csrf(request: Request, form: FormData | None) -> None:
    """Refuse an unsafe request whose token is missing, forged, or from another origin."""
    if request.method not in UNSAFE:
        return
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if re.sub(r"^https?://", "", origin) != host:
            raise Forbidden("cross-origin form post refused", code="csrf")
    sent = request.headers.get(CSRF_HEADER)
    if not sent and form is not None:
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    cookie = read_cookie(request, CSRF_COOKIE)
    if not sent or not cookie or "." not in sent:
        raise Forbidden("the form has expired; reload the page and try again", code="csrf")
    nonce, mac = sent.rsplit(".", 1)
    expected = _mac(_secret(request), cookie, _binding(request))
    if not (secrets.compare_digest(nonce, cookie) and secrets.compare_digest(mac, expected)):
        raise Forbidden("the form has expired; reload the page and try again", code="csrf")


async def csrf_protect(request: Request) -> None:
    """Route dependency: every form post and htmx request must carry the page's token."""
    if request.method not in UNSAFE:
        return
    form = None
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
        form = await request.form()
    check_csrf(request, form)


def install_headers(app: FastAPI) -> None:
    """Security headers on every response; no-store on everything that is not a static file."""

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        had_nonce = bool(read_cookie(request, CSRF_COOKIE))
        response = await call_next(request)
        path = request.url.path
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if not path.startswith(_CSP_EXEMPT):
            h.setdefault("Content-Security-Policy", CSP)
        if not path.startswith("/static/"):
            # pages and API answers carry numbers, names and orders: never keep them in a cache
            h["Cache-Control"] = "no-store"
        if is_https(request):
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        nonce = getattr(request.state, "csrf_nonce", None)
        if nonce and not had_nonce:
            set_cookie(request, response, CSRF_COOKIE, str(nonce))
        return response


# -- logs -----------------------------------------------------------------------------------

_MSISDN_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")


def mask_numbers(text: str) -> str:
    """Mask every mobile number inside free text (URLs in access logs, messages)."""
    return _MSISDN_IN_TEXT.sub(lambda m: mask_msisdn(m.group(0)[-11:]), text)


class MaskNumbersFilter(logging.Filter):
    """Access logs print request paths such as /agent/subscribers/13800138000: mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_numbers(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_numbers(record.msg)
        return True


def install_log_masking() -> None:
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskNumbersFilter) for f in logger.filters):
            logger.addFilter(MaskNumbersFilter())
