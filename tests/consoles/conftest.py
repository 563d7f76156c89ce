"""Console fixtures: the app on the ``platform`` fixture (SQLite and PostgreSQL), demo staff
users with cheap argon2 parameters (the hash format is the same; only the cost differs)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from mingbai.accounts import service as accounts
from mingbai.accounts.demo import demo_password, seed_demo_accounts
from mingbai.auth.service import create_key
from mingbai.platform import Platform
from mingbai.web.app import create_app

#: one API key per role that may hold one, for the /api/v1 side of the role matrix
API_KEYS = {
    "sp": ("SINA", "key-sp-sina"),
    "agent": (None, "key-agent"),
    "hall": (None, "key-hall"),
    "operator": (None, "key-operator"),
    "smsc": (None, "key-smsc"),
    "reviewer": (None, "key-reviewer"),
}


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(accounts, "_DUMMY_HASH", None)


@pytest.fixture
def app(platform: Platform):  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        seed_demo_accounts(ctx)
        for role, (sp, key) in API_KEYS.items():
            create_key(ctx, role=role, label=f"test {role}", sp_code=sp, key=key)
    return create_app(platform)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def sign_in(app, username: str, password: str | None = None) -> TestClient:  # type: ignore[no-untyped-def]
    """A fresh browser-like client signed in through the real sign-in form."""
    c = TestClient(app, base_url="http://testserver")
    page = c.get("/login")
    r = c.post(
        "/login/staff",
        data={"username": username, "password": password or demo_password(username), "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


def sms_code(platform: Platform, msisdn: str) -> str:
    """The sign-in code the subscriber's phone received (the outbox keeps it sealed, then redacted)."""
    from mingbai.messaging.gateways import LoopbackGateway

    assert isinstance(platform.gateway, LoopbackGateway)
    got = ["".join(d.parts) for d in platform.gateway.delivered if d.recipient == msisdn]
    codes = [m.group(1) for t in got if (m := re.search(r"登录验证码(\d{6})", t))]
    assert codes, f"no sign-in code reached {msisdn}"
    return codes[-1]


def sign_in_subscriber(app, platform: Platform, msisdn: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app, base_url="http://testserver")
    page = c.get("/login")
    r = c.post("/login/sms/request", data={"msisdn": msisdn, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 200
    r = c.post(
        "/login/sms/verify",
        data={"msisdn": msisdn, "code": sms_code(platform, msisdn), "csrf_token": csrf_of(r.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/me", r.text
    return c


def post_form(c: TestClient, page_url: str, action: str, data: dict[str, str] | None = None, **kw):  # type: ignore[no-untyped-def]
    """Post a form the way a browser does: with the token from the page it is on."""
    page = c.get(page_url)
    return c.post(action, data={**(data or {}), "csrf_token": csrf_of(page.text)}, follow_redirects=False, **kw)
