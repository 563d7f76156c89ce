"""The FastAPI application: API routers, the handset, error mapping and the scheduler."""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from mingbai import __version__, logmask
from mingbai.audit import service as audit
from mingbai.campaigns.api import router as campaigns_router
from mingbai.catalog.api import router as catalog_router
from mingbai.charging.api import router as charging_router
from mingbai.charging.api import templates as bill_templates
from mingbai.clock import FixedClock, SystemClock, parse_instant
from mingbai.config import Settings
from mingbai.consoles import install as install_consoles
from mingbai.consoles.charges import ChargingSource
from mingbai.consoles.i18n import enum_translator
from mingbai.disputes.api import router as disputes_router
from mingbai.messaging.api import router as sms_router
from mingbai.messaging.gateways.smpp import SmppConfig, SmppGateway
from mingbai.messaging.metrics import registry_with_outbox
from mingbai.platform import Platform
from mingbai.ratelimit import make_limiter
from mingbai.spam.api import router as spam_router
from mingbai.subscriptions.api import router as subscriptions_router
from mingbai.vault.api import router as vault_router
from mingbai.web.apidocs import router as apidocs_router
from mingbai.web.errors import error_response, install_error_model
from mingbai.web.handset import router as handset_router
from mingbai.web.limits import BodySizeLimit

log = logging.getLogger(__name__)


class Scheduler:
    """Runs ``Platform.tick`` every few seconds in a background thread (``mingbai serve``)."""

    def __init__(self, platform: Platform, every: float) -> None:
        self.platform = platform
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mingbai-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.platform.tick()
            except Exception:  # keep ticking; the next pass retries what failed
                log.exception("scheduler tick failed")


def create_app(platform: Platform, *, scheduler: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sched = Scheduler(platform, platform.settings.tick_seconds) if scheduler else None
        gateway = platform.gateway if scheduler and isinstance(platform.gateway, SmppGateway) else None
        if gateway:
            gateway.start_in_thread(platform.wiring())
        if sched:
            sched.start()
        yield
        if sched:
            sched.stop()
        if gateway:
            gateway.stop_thread()

    app = FastAPI(
        title="Mingbai 明白",
        version=__version__,
        description="Transparent consumption for value-added services: confirmed orders, free trials, "
        "reminders, unified query & unsubscribe. Authenticate with the X-API-Key header.",
        lifespan=lifespan,
        docs_url=None,  # web/apidocs.py serves /docs from our own origin
        redoc_url=None,  # ReDoc comes only from a CDN; /docs is the one explorer
    )
    app.state.platform = platform

    install_error_model(app)

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # input that passed validation but that the database cannot hold (a NUL character in
        # text, say): the caller's mistake, said plainly; logged without the values, which may
        # be personal data
        log.warning("%s %s: unstorable input (%s)", request.method, request.url.path, type(exc.orig).__name__)
        return error_response(
            "unstorable_input", "a value cannot be stored (text must not contain NUL characters)", 422
        )

    app.include_router(subscriptions_router)
    app.include_router(catalog_router)
    app.include_router(charging_router)
    app.include_router(disputes_router)
    app.include_router(sms_router)
    app.include_router(spam_router)
    app.include_router(handset_router)
    app.include_router(apidocs_router)
    app.include_router(campaigns_router)
    app.include_router(vault_router)
    install_consoles(app, charges=ChargingSource())
    # the bill page (charging's edge) names channels in the consoles' Chinese words
    bill_templates.env.filters["channel"] = lambda c: enum_translator("zh-CN")("channel", c)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    metrics_registry = registry_with_outbox(platform.uow)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus: SMS counters of this process and outbox gauges. With ``MINGBAI_METRICS_TOKEN``
        set, for ``Authorization: Bearer <token>`` only; without, for this machine only."""
        if not metrics_allowed(request, platform.settings.metrics_token):
            return error_response("forbidden", "metrics need the bearer token (MINGBAI_METRICS_TOKEN)", 403)
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.state.rate_limiter = make_limiter(platform.settings.redis_url, platform.clock)
    app.add_middleware(
        BodySizeLimit,
        limit=platform.settings.max_body_bytes,
        larger={"/api/v1/usage/imports": platform.settings.max_import_bytes},
    )
    app.add_middleware(AuditAddress)
    hosts = [h.strip() for h in platform.settings.trusted_proxies.split(",") if h.strip()]
    if hosts:  # outermost: the client address every other layer sees is the one a trusted proxy gave
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=hosts)
    return app


class AuditAddress:
    """Every audit entry a request leads to names the client's address (after a trusted proxy's
    say-so, which the middleware outside this one applied): set for the request's context, which
    the threads running sync routes inherit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        with audit.from_address(client[0] if client else "unknown"):
            await self.app(scope, receive, send)


def metrics_allowed(request: Request, token: str) -> bool:
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return request.client is not None and request.client.host in ("127.0.0.1", "::1")


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (``mingbai serve``): settings from the environment."""
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logmask.install()  # no whole MSISDN nor code in any log line, tracebacks included
    at = os.environ.get("MINGBAI_NOW")
    clock = FixedClock(parse_instant(at)) if at else SystemClock()
    smsc = SmppConfig.from_env()  # an SMSC configured: the real SMS path runs in this process
    gateway = SmppGateway(smsc) if smsc else None
    return create_app(Platform(Settings.from_env(), clock=clock, gateway=gateway), scheduler=True)
