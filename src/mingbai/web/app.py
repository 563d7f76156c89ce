"""The FastAPI application: API routers, the handset, error mapping and the scheduler."""

from __future__ import annotations

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

from mingbai import __version__
from mingbai.campaigns.api import router as campaigns_router
from mingbai.catalog.api import router as catalog_router
from mingbai.charging.api import router as charging_router
from mingbai.clock import FixedClock, SystemClock, parse_instant
from mingbai.config import Settings
from mingbai.consoles import install as install_consoles
from mingbai.consoles.charges import ChargingSource
from mingbai.disputes.api import router as disputes_router
from mingbai.errors import MingbaiError
from mingbai.messaging.api import router as sms_router
from mingbai.messaging.gateways.smpp import SmppConfig, SmppGateway
from mingbai.messaging.metrics import registry_with_outbox
from mingbai.platform import Platform
from mingbai.spam.api import router as spam_router
from mingbai.subscriptions.api import router as subscriptions_router
from mingbai.web.handset import router as handset_router

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
    )
    app.state.platform = platform

    @app.exception_handler(MingbaiError)
    async def _mingbai_error(_: Request, exc: MingbaiError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "detail": exc.message}, status_code=exc.status_code)

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # input that passed validation but that the database cannot hold (a NUL character in
        # text, say): the caller's mistake, said plainly; logged without the values, which may
        # be personal data
        log.warning("%s %s: unstorable input (%s)", request.method, request.url.path, type(exc.orig).__name__)
        return JSONResponse(
            {"error": "unstorable_input", "detail": "a value cannot be stored (text must not contain NUL characters)"},
            status_code=422,
        )

    app.include_router(subscriptions_router)
    app.include_router(catalog_router)
    app.include_router(charging_router)
    app.include_router(disputes_router)
    app.include_router(sms_router)
    app.include_router(spam_router)
    app.include_router(handset_router)
    app.include_router(campaigns_router)
    install_consoles(app, charges=ChargingSource())
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    metrics_registry = registry_with_outbox(platform.uow)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus: SMS counters of this process and outbox gauges (bind the port to 127.0.0.1)."""
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (``mingbai serve``): settings from the environment."""
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    at = os.environ.get("MINGBAI_NOW")
    clock = FixedClock(parse_instant(at)) if at else SystemClock()
    smsc = SmppConfig.from_env()  # an SMSC configured: the real SMS path runs in this process
    gateway = SmppGateway(smsc) if smsc else None
    return create_app(Platform(Settings.from_env(), clock=clock, gateway=gateway), scheduler=True)
