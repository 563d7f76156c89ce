"""Every staff action leaves an audit entry (issue 16): the matrix below names each staff-changing
route and command — consoles, the REST API, the CLI — and what it must record; each is done for
real and its entry looked for. And fail closed: when the entry cannot be written, the action does
not happen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from mingbai.audit import service as audit
from mingbai.catalog.models import Service
from mingbai.cli.main import app as cli
from mingbai.platform import Platform
from tests.conftest import TEST_SEALING_KEY
from tests.consoles.conftest import API_KEYS, csrf_of, sign_in
from tests.helpers import ALICE, subscribe

runner = CliRunner()


def _key(role: str) -> dict[str, str]:
    return {"X-API-Key": API_KEYS[role][1]}


def _ok(r: Any) -> None:
    assert r.status_code < 400, (r.status_code, r.text[:300])


def _console_post(app: Any, user: str, path: str, data: dict[str, Any], page: str) -> None:
    c = sign_in(app, user)
    form = c.get(page)
    r = c.post(path, data={**data, "csrf_token": csrf_of(form.text)}, follow_redirects=False)
    assert r.status_code in (200, 303), (r.status_code, r.text[:300])


def _cli(db_url: str, *args: str, stdin: str | None = None) -> None:
    out = runner.invoke(cli, ["--db", db_url, *args], input=stdin)
    assert out.exit_code == 0, out.output


def _spam_strategy(c: TestClient) -> None:
    made = c.post("/api/v1/spam/strategies", json={"changes": {}}, headers=_key("operator"))
    _ok(made)
    _ok(c.post(f"/api/v1/spam/strategies/{made.json()['version']}/activate", headers=_key("operator")))


Step = Callable[[TestClient, Any, Platform, str], None]

#: (what, how it is done, the action recorded, the actor recorded)
MATRIX: list[tuple[str, Step, str, str]] = [
    # sign-ins, right and wrong
    ("console sign-in", lambda c, app, p, db: sign_in(app, "agent") and None, "staff.sign_in", "agent:agent"),
    (
        "console sign-in refused",
        lambda c, app, p, db: (
            c.post(
                "/login/staff",
                data={"username": "agent", "password": "wrong", "csrf_token": csrf_of(c.get("/login").text)},
            )
            and None
        ),
        "staff.sign_in",
        "unknown:agent",
    ),
    # views of a subscriber
    (
        "agent console subscriber page",
        lambda c, app, p, db: _ok(sign_in(app, "agent").get(f"/agent/subscribers/{ALICE}")),
        "subscriber.view",
        "agent:agent",
    ),
    (
        "API subscriptions by a staff key",
        lambda c, app, p, db: _ok(c.get(f"/api/v1/subscribers/{ALICE}/subscriptions", headers=_key("agent"))),
        "subscriber.view",
        "agent:test agent",
    ),
    (
        "API balance by a staff key",
        lambda c, app, p, db: _ok(c.get(f"/api/v1/subscribers/{ALICE}/balance", headers=_key("hall"))),
        "subscriber.view",
        "hall:test hall",
    ),
    (
        "API charges by a staff key",
        lambda c, app, p, db: _ok(c.get(f"/api/v1/subscribers/{ALICE}/charges", headers=_key("operator"))),
        "subscriber.view",
        "operator:test operator",
    ),
    # orders and unsubscriptions for a caller
    (
        "agent console order",
        lambda c, app, p, db: _console_post(
            app, "agent", f"/agent/subscribers/{ALICE}/orders", {"service_code": "SINA-WEATHER"}, "/agent"
        ),
        "order.place",
        "agent:agent",
    ),
    (
        "agent console unsubscribe",
        lambda c, app, p, db: _console_post(
            app, "hall", f"/agent/subscribers/{ALICE}/unsubscribe", {"all": "true"}, "/agent"
        ),
        "subscription.unsubscribe",
        "hall:hall",
    ),
    (
        "API order for a caller",
        lambda c, app, p, db: _ok(
            c.post(f"/api/v1/subscribers/{ALICE}/orders", json={"service_code": "SINA-WEATHER"}, headers=_key("agent"))
        ),
        "order.place",
        "agent:test agent",
    ),
    (
        "API unsubscribe for a caller",
        lambda c, app, p, db: _ok(
            c.post(f"/api/v1/subscribers/{ALICE}/unsubscribe", json={"all": True}, headers=_key("agent"))
        ),
        "subscription.unsubscribe",
        "agent:test agent",
    ),
    (
        "CLI order",
        lambda c, app, p, db: _cli(db, "order", "--msisdn", ALICE, "--service", "SINA-WEATHER", "--channel", "hotline"),
        "order.place",
        "cli:ops1",
    ),
    (
        "CLI unsubscribe",
        lambda c, app, p, db: _cli(db, "unsubscribe", "--msisdn", ALICE),
        "subscription.unsubscribe",
        "cli:ops1",
    ),
    # catalog: import, prices, suspensions and resumptions
    (
        "API catalog import",
        lambda c, app, p, db: _ok(c.post("/api/v1/catalog/import", json={"sps": []}, headers=_key("operator"))),
        "catalog.import",
        "operator:test operator",
    ),
    (
        "API price change",
        lambda c, app, p, db: _ok(
            c.put(
                "/api/v1/catalog/services/SINA-NEWS",
                json={
                    "code": "SINA-NEWS",
                    "sp": "SINA",
                    "name": "头条新闻",
                    "type": "sms",
                    "billing": "monthly",
                    "price_fen": 2000,
                },
                headers=_key("operator"),
            )
        ),
        "catalog.price",
        "operator:test operator",
    ),
    (
        "API service suspension",
        lambda c, app, p, db: _ok(
            c.post(
                "/api/v1/catalog/services/SINA-NEWS/status",
                json={"status": "suspended", "reason": "complaints"},
                headers=_key("operator"),
            )
        ),
        "catalog.service.suspend",
        "operator:test operator",
    ),
    (
        "console SP suspension",
        lambda c, app, p, db: _console_post(
            app, "operator", "/ops/catalog/sps/SINA/status", {"status": "suspended", "reason": "fraud"}, "/ops/catalog"
        ),
        "catalog.sp.suspend",
        "operator:operator",
    ),
    (
        "CLI SP resumption",
        lambda c, app, p, db: _cli(db, "catalog", "suspend", "SINA", "--resume"),
        "catalog.sp.resume",
        "cli:ops1",
    ),
    (
        "CLI catalog import",
        lambda c, app, p, db: _cli(db, "catalog", "import", str(_catalog_file())),
        "catalog.import",
        "cli:ops1",
    ),
    # SP sanctions / governance, configuration
    (
        "API port registered",
        lambda c, app, p, db: _ok(
            c.post(
                "/api/v1/spam/ports",
                json={"port": "1065750012345", "owner": "银行", "signature": "工商银行"},
                headers=_key("operator"),
            )
        ),
        "spam.port.register",
        "operator:test operator",
    ),
    (
        "API spam strategy activated",
        lambda c, app, p, db: _spam_strategy(c),
        "config.spam_strategy.activate",
        "operator:test operator",
    ),
    (
        "API dispute policy",
        lambda c, app, p, db: _ok(
            c.post(
                "/api/v1/dispute-policies", json={"category": "*", "policy": "refund_first"}, headers=_key("operator")
            )
        ),
        "config.dispute_policy",
        "operator:test operator",
    ),
    (
        "CLI dispute policy",
        lambda c, app, p, db: _cli(db, "dispute", "policy", "set", "--category", "sms", "--policy", "confirm_first"),
        "config.dispute_policy",
        "cli:ops1",
    ),
    # exports
    (
        "API referrals export",
        lambda c, app, p, db: _ok(c.post("/api/v1/spam/referrals/export", headers=_key("operator"))),
        "export.referrals",
        "operator:test operator",
    ),
    # API keys, staff users
    (
        "SP console key created",
        lambda c, app, p, db: _console_post(app, "sina", "/sp/keys", {"label": "crm"}, "/sp/keys"),
        "apikey.create",
        "sp:SINA",
    ),
    (
        "CLI key created",
        lambda c, app, p, db: _cli(db, "apikey", "create", "--role", "agent", "--label", "x"),
        "apikey.create",
        "cli:ops1",
    ),
    (
        "CLI user created",
        lambda c, app, p, db: _cli(
            db,
            "user",
            "create",
            "--username",
            "zoe",
            "--role",
            "agent",
            "--name",
            "Zoe",
            "--password-stdin",
            stdin="Correct-Horse-42-battery\n",
        ),
        "user.create",
        "cli:ops1",
    ),
    (
        "CLI password changed",
        lambda c, app, p, db: _cli(
            db, "user", "password", "--username", "agent", "--password-stdin", stdin="Another-Horse-43-staple\n"
        ),
        "user.password",
        "cli:ops1",
    ),
    (
        "CLI user disabled",
        lambda c, app, p, db: _cli(db, "user", "disable", "--username", "hall"),
        "user.disable",
        "cli:ops1",
    ),
    # the auditor's own search
    (
        "CLI audit search",
        lambda c, app, p, db: _cli(db, "audit", "search", "--msisdn", ALICE),
        "audit.search",
        "cli:ops1",
    ),
]


def _catalog_file() -> Any:
    import json
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "catalog.json"
    path.write_text(json.dumps({"sps": [], "services": [], "subscribers": []}))
    return path


@pytest.fixture(autouse=True)
def _cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINGBAI_SECRET_KEYS", TEST_SEALING_KEY)
    monkeypatch.setenv("USER", "ops1")


@pytest.mark.parametrize(("what", "step", "action", "actor"), MATRIX, ids=[m[0] for m in MATRIX])
def test_each_staff_action_leaves_an_entry(
    what: str, step: Step, action: str, actor: str, app: Any, client: TestClient, platform: Platform, db_url: str
) -> None:
    subscribe(platform)  # ALICE holds SINA-NEWS, so there is something to see and to end
    with platform.uow() as ctx:
        before = audit.search(ctx, action=action, limit=10_000)
    step(client, app, platform, db_url)
    with platform.uow() as ctx:
        after = audit.search(ctx, action=action, limit=10_000)
        report = audit.verify(ctx)
    new = [f for f in after if f.seq not in {b.seq for b in before}]
    assert [f.actor for f in new if f.actor == actor], f"{what}: no {action} entry by {actor} in {new}"
    assert report.ok, report
    if "sign-in" not in what:
        assert all(f.address for f in new), new  # from where: the client, or cli


def test_an_entry_about_a_number_keeps_it_masked_and_found(client: TestClient, platform: Platform) -> None:
    subscribe(platform)
    _ok(client.get(f"/api/v1/subscribers/{ALICE}/subscriptions", headers=_key("agent")))
    with platform.uow() as ctx:
        found = audit.search(ctx, msisdn=ALICE, action="subscriber.view")
        raw = ctx.conn.execute(text("SELECT subject, detail, address FROM audit_entry")).all()
    assert len(found) == 1 and found[0].subject == "138****8000" and found[0].address == "testclient"
    assert ALICE not in repr(raw)


def test_fail_closed(monkeypatch: pytest.MonkeyPatch, app: Any, platform: Platform) -> None:
    """The audit log cannot be written: the suspension, the order and the page view do not
    happen (their transaction fails with the entry), and nothing is shown."""
    subscribe(platform)
    from sqlalchemy.exc import OperationalError

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("INSERT INTO audit_entry", {}, Exception("disk full"))

    monkeypatch.setattr(audit, "insert_rows", broken)
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post(
        "/api/v1/catalog/services/SINA-NEWS/status",
        json={"status": "suspended", "reason": "x"},
        headers=_key("operator"),
    )
    assert r.status_code >= 500
    r = c.post(f"/api/v1/subscribers/{ALICE}/orders", json={"service_code": "SINA-WEATHER"}, headers=_key("agent"))
    assert r.status_code >= 500
    r = c.get(f"/api/v1/subscribers/{ALICE}/subscriptions", headers=_key("agent"))
    assert r.status_code >= 500 and "SINA-NEWS" not in r.text
    with platform.uow() as ctx:
        status = ctx.session.scalar(select(Service.status).where(Service.code == "SINA-NEWS"))
        orders = ctx.conn.execute(text("SELECT count(*) FROM sub_order WHERE service_code = 'SINA-WEATHER'"))
        entries = ctx.conn.execute(text("SELECT count(*) FROM audit_entry")).scalar()
    assert status == "active"
    assert orders.scalar() == 0
    assert entries == 0
