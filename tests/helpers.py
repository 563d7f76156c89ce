"""Small helpers shared by tests: read the code a subscriber received, and so on."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from fastapi.testclient import TestClient

from mingbai.auth.service import create_key
from mingbai.db import Ctx, Database, make_engine
from mingbai.messaging.gateways import LoopbackGateway
from mingbai.messaging.service import SentSms
from mingbai.platform import Platform
from mingbai.subscriptions.service import PlacedOrder, place_order
from mingbai.web.app import create_app

ALICE = "13800138000"
BOB = "13900139000"


def code_from(text: str) -> str:
    m = re.search(r"验证码(\d{6})", text)
    assert m, f"no code in {text!r}"
    return m.group(1)


def last_text(gateway: LoopbackGateway, msisdn: str) -> str:
    for d in reversed(gateway.delivered):
        if d.recipient == msisdn:
            return "".join(d.parts)
    raise AssertionError(f"nothing delivered to {msisdn}")


def order(
    platform: Platform, msisdn: str = ALICE, service: str = "SINA-NEWS", channel: str = "sp", **kw: object
) -> tuple[PlacedOrder, str]:
    """Place an order and return it with the code the subscriber received."""
    with platform.uow() as ctx:
        placed = place_order(ctx, msisdn=msisdn, service_code=service, channel=channel, actor="test", **kw)  # type: ignore[arg-type]
    return placed, code_from(last_delivered(platform, msisdn))


def last_delivered(platform: Platform, msisdn: str) -> str:
    """The newest SMS the subscriber's handset received (the loopback gateway keeps them)."""
    assert isinstance(platform.gateway, LoopbackGateway)
    return last_text(platform.gateway, msisdn)


def received(platform: Platform, sms: SentSms) -> str:
    """What the subscriber's handset received for a reply: its code, unlike the reply as the
    platform reports it (API answers, CLI output show a code-bearing text redacted)."""
    assert isinstance(platform.gateway, LoopbackGateway)
    for d in reversed(platform.gateway.delivered):
        if d.outbox_id == sms.outbox_id:
            return "".join(d.parts)
    raise AssertionError(f"the handset received no SMS {sms.outbox_id}")


def subscribe(platform: Platform, msisdn: str = ALICE, service: str = "SINA-NEWS") -> str:
    """Order and confirm; returns the confirmation reply text."""
    _, code = order(platform, msisdn, service)
    result = platform.receive_sms(msisdn, "10086", code)
    assert result.handled_as == "code_confirmed", result
    return result.replies[-1].text


@contextmanager
def owner_uow(platform: Platform) -> Iterator[Ctx]:
    """One transaction as the database's owner role, for what a test does that the platform's own
    role may not: empty an append-only table, or tamper with history to see it detected. On SQLite
    (one role) it is the platform's own unit of work."""
    from tests.conftest import owner_url

    url = owner_url(platform.settings.database_url)
    if url == platform.settings.database_url:
        with platform.uow() as ctx:
            yield ctx
        return
    database = Database(make_engine(url))
    try:
        with database.session() as session:
            yield Ctx(session=session, clock=platform.clock, settings=platform.settings)
    finally:
        database.engine.dispose()


#: (role, label, SP) of the API keys most API tests sign in with; the key is ``key-<label>``
STAFF_KEYS: tuple[tuple[str, str, str | None], ...] = (
    ("sp", "sina", "SINA"),
    ("sp", "qq", "TENCENT"),
    ("agent", "a1", None),
    ("hall", "h1", None),
    ("operator", "o1", None),
)


@contextmanager
def api_client(platform: Platform, keys: Sequence[tuple[str, str, str | None]] = STAFF_KEYS) -> Iterator[TestClient]:
    """A test client of the REST API, with an API key ``key-<label>`` made for each of ``keys``."""
    with platform.uow() as ctx:
        for role, label, sp in keys:
            create_key(ctx, role=role, label=label, sp_code=sp, key=f"key-{label}")
    with TestClient(create_app(platform)) as c:
        yield c


def key_header(label: str) -> dict[str, str]:
    return {"X-API-Key": f"key-{label}"}


def free_port() -> int:
    """A local TCP port nobody listens on (a server started by a test binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(platform: Platform) -> Iterator[str]:
    """The platform's app served by uvicorn in a thread on a free port, for a browser: its base
    URL while the block runs; stopped after."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(create_app(platform), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
