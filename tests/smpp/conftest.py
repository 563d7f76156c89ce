"""Fixtures for the SMPP path: a fake SMSC (smpp34 server) and a platform whose gateway is the
real SMPP engine bound to it, running in a background thread."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from mingbai.catalog.service import import_catalog
from mingbai.clock import FixedClock
from mingbai.config import Settings
from mingbai.db import Database, make_engine
from mingbai.demo import DEMO_CATALOG
from mingbai.messaging.gateways.smpp import SmppConfig, SmppGateway
from mingbai.messaging.models import OutboundSms
from mingbai.platform import Platform
from tests.smpp.smsc import FakeSmsc, Policy


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    s = FakeSmsc(policy=Policy()).start()
    yield s
    s.stop()


def smpp_config(port: int, **kw: object) -> SmppConfig:
    base: dict[str, object] = dict(
        host="127.0.0.1",
        port=port,
        system_id="mingbai",
        password="secret",
        rate=500.0,
        window=20,
        enquire_link_s=5.0,
        response_timeout_s=5.0,
        doubt_wait_s=2.0,
        lease_ttl_s=3.0,
        reconnect_max_s=1.0,
    )
    base.update(kw)
    return SmppConfig(**base)  # type: ignore[arg-type]


class SmppRig:
    """A platform + SMPP gateway; ``restart()`` replaces the gateway as a process restart would."""

    def __init__(self, db_url: str, clock: FixedClock, config: SmppConfig) -> None:
        self.db_url = db_url
        self.clock = clock
        self.config = config
        self.gateway = SmppGateway(config, poll_s=0.02)
        settings = Settings(database_url=db_url, code_secret="test-secret", tick_seconds=1)
        self.platform = Platform(settings, clock=clock, gateway=self.gateway, database=Database(make_engine(db_url)))

    def start(self) -> SmppRig:
        self.gateway.start_in_thread(self.platform.wiring())
        return self

    def stop(self) -> None:
        self.gateway.stop_thread()

    def restart(self, **changes: object) -> None:
        self.stop()
        if changes:
            self.config = dataclasses.replace(self.config, **changes)  # type: ignore[arg-type]
        self.gateway = SmppGateway(self.config, poll_s=0.02)
        self.platform.gateway = self.gateway
        self.gateway.start_in_thread(self.platform.wiring())

    def wait_bound(self, timeout: float = 10) -> None:
        wait_until(lambda: self.gateway.status.bound, timeout, "gateway never bound")

    def rows(self, msisdn: str | None = None) -> list[OutboundSms]:
        with self.platform.uow() as ctx:
            q = select(OutboundSms).order_by(OutboundSms.id)
            if msisdn:
                q = q.where(OutboundSms.msisdn == msisdn)
            return list(ctx.session.execute(q).scalars())

    def wait_states(self, states: set[str], timeout: float = 15, msisdn: str | None = None) -> list[OutboundSms]:
        rows: list[OutboundSms] = []

        def done() -> bool:
            nonlocal rows
            rows = self.rows(msisdn)
            return bool(rows) and all(r.status in states for r in rows)

        wait_until(done, timeout, lambda: f"outbox states {[(r.id, r.status, r.error) for r in rows]}")
        return rows


def wait_until(cond: Callable[[], bool], timeout: float, what: str | Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(what() if callable(what) else what)


@pytest.fixture
def rig(db_url: str, clock: FixedClock, smsc: FakeSmsc) -> Iterator[SmppRig]:
    r = SmppRig(db_url, clock, smpp_config(smsc.port))
    with r.platform.uow() as ctx:
        import_catalog(ctx, DEMO_CATALOG)
    r.start()
    yield r
    r.stop()
    r.platform.db.engine.dispose()


class _PulledByHand:
    """Stands in for the SMPP gateway where tests drive the outbox rules themselves: like every
    pulling gateway it leaves MTs queued for the sender to claim (the loopback would deliver them
    as they are written)."""

    name = "pulled-by-hand"

    def nudge(self) -> None:
        return None


@pytest.fixture
def platform(platform: Platform) -> Platform:
    platform.gateway = _PulledByHand()
    return platform
