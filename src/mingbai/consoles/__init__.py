"""Web consoles on the platform's FastAPI app: sign-in, agent console, subscriber portal, SP
portal, operator dashboard. Server-rendered (Jinja2 + htmx), zh-CN and English.

``install(app, charges=…)`` adds the pages, the security headers and the HTML error pages; the
composition root passes the capabilities' sources in (``charges``: see ``consoles/charges.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mingbai.errors import InvalidInput, MingbaiError

if TYPE_CHECKING:
    from mingbai.consoles.charges import ChargeSource

#: paths whose errors are pages, not JSON
PAGE_PREFIXES = ("/login", "/logout", "/console", "/lang", "/agent", "/me", "/sp", "/ops", "/security", "/vault")


def _is_page(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def install(app: FastAPI, *, charges: ChargeSource | None = None) -> None:
    from mingbai.consoles import agent, auditlog, disputes, ops, portal, signin, sp, vault
    from mingbai.consoles.security import install_headers, install_log_masking
    from mingbai.consoles.web import SignInRequired, current_user, lang_of, render, sign_in_url

    for module in (signin, agent, portal, sp, ops, disputes, auditlog, vault):
        app.include_router(module.router)
    app.state.charge_source = charges
    install_headers(app)
    install_log_masking()

    previous = cast(
        Callable[[Request, Exception], Awaitable[Response]] | None, app.exception_handlers.get(MingbaiError)
    )

    async def errors(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MingbaiError)
        if not _is_page(request.url.path):
            if previous is not None:
                return await previous(request, exc)
            return JSONResponse({"error": exc.code, "detail": exc.message}, status_code=exc.status_code)
        if isinstance(exc, SignInRequired):
            url = sign_in_url(request)
            if request.headers.get("HX-Request"):
                return HTMLResponse("", status_code=401, headers={"HX-Redirect": url})
            return Response(status_code=303, headers={"Location": url})
        from mingbai.consoles import i18n

        t = i18n.translator(lang_of(request))
        platform = request.app.state.platform
        key = "error." + exc.code
        message = t(key) if i18n.has(key) else exc.message
        title = t(f"error.title_{exc.status_code}") if i18n.has(f"error.title_{exc.status_code}") else t("error.title")
        return render(
            request,
            "error.html",
            current_user(request, platform),
            {"title": title, "message": message},
            status_code=exc.status_code,
        )

    app.add_exception_handler(MingbaiError, errors)

    previous_invalid = cast(
        Callable[[Request, Exception], Awaitable[Response]] | None,
        app.exception_handlers.get(RequestValidationError),
    )

    async def invalid(request: Request, exc: Exception) -> Response:
        """A malformed form or query on a page gets a page that says so, not JSON."""
        if _is_page(request.url.path):
            return await errors(request, InvalidInput("the form was not filled in correctly"))
        if previous_invalid is not None:
            return await previous_invalid(request, exc)
        return await request_validation_exception_handler(request, cast(RequestValidationError, exc))

    app.add_exception_handler(RequestValidationError, invalid)
