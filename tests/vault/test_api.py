"""The vault's REST API: an agent asks with its key, a security approver approves from a console
session (CSRF token in the header), the agent uses it once; answers are never cached."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mingbai.accounts.demo import demo_password
from mingbai.accounts.service import set_contact
from mingbai.audit.models import AuditEntry
from mingbai.auth.service import create_key
from mingbai.platform import Platform
from mingbai.web.app import create_app
from tests.consoles.conftest import csrf_of, sign_in
from tests.helpers import ALICE
from tests.vault.conftest import PHONES, TODAY

AGENT_KEY = "key-vault-agent"


@pytest.fixture
def app(staffed: Platform):  # type: ignore[no-untyped-def]
    with staffed.uow() as ctx:
        create_key(ctx, role="agent", label="agent", key=AGENT_KEY)  # a key labelled for the user agent
    return create_app(staffed)


def _security(app) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    c = sign_in(app, "security")
    return c, csrf_of(c.get("/login").text) if False else _token(c)


def _token(c: TestClient) -> str:
    page = c.get("/security/sign-ins")
    return csrf_of(page.text) if 'name="csrf_token"' in page.text else c.cookies.get("mb_csrf", "")


def _ask(agent: TestClient, **kw: object) -> dict:  # type: ignore[type-arg]
    body = {
        "operation": "cdr",
        "msisdn": ALICE,
        "reason": "客户来电核对上月话费",
        "date_from": str(TODAY - timedelta(days=2)),
        "date_to": str(TODAY),
        **kw,
    }
    r = agent.post("/api/v1/vault/requests", json=body)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()  # type: ignore[no-any-return]


def test_ask_approve_from_a_session_use_once(app, staffed: Platform) -> None:  # type: ignore[no-untyped-def]
    agent = TestClient(app, headers={"X-API-Key": AGENT_KEY})
    req = _ask(agent)
    assert req["subject"] == "138****8000" and req["status"] == "pending" and ALICE not in str(req)
    sec, token = _security(app)
    pending = sec.get("/api/v1/vault/pending")
    assert pending.status_code == 200 and [x["id"] for x in pending.json()] == [req["id"]]
    assert sec.post(f"/api/v1/vault/requests/{req['id']}/approve").status_code == 403  # no CSRF token
    r = sec.post(f"/api/v1/vault/requests/{req['id']}/approve", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    used = agent.post(f"/api/v1/vault/requests/{req['id']}/use")
    assert used.status_code == 200, used.text
    assert used.headers["cache-control"] == "no-store"
    body = used.json()
    assert body["msisdn"] == ALICE and body["rows"] and body["notice_id"]
    again = agent.post(f"/api/v1/vault/requests/{req['id']}/use")
    assert again.status_code == 409 and again.json()["error"] == "used"
    with staffed.uow() as ctx:
        log = ctx.session.execute(select(AuditEntry.action, AuditEntry.outcome).order_by(AuditEntry.seq)).all()
    assert [tuple(x) for x in log if x[0].startswith("vault.")] == [
        ("vault.request", "ok"),
        ("vault.approve", "ok"),
        ("vault.use", "ok"),
        ("vault.use", "denied"),  # the refused second use, written in its own transaction
    ]


def test_the_same_person_cannot_approve_through_the_api(app, staffed: Platform) -> None:  # type: ignore[no-untyped-def]
    with staffed.uow() as ctx:
        set_contact(ctx, username="security", phone=PHONES["agent"])  # one person, two accounts
    agent = TestClient(app, headers={"X-API-Key": AGENT_KEY})
    req = _ask(agent)
    sec, token = _security(app)
    r = sec.post(f"/api/v1/vault/requests/{req['id']}/approve", headers={"X-CSRF-Token": token})
    assert r.status_code == 403 and r.json()["error"] == "self_approval"
    assert sec.get("/api/v1/vault/pending").json() == []


def test_requesters_see_only_their_own(app) -> None:  # type: ignore[no-untyped-def]
    agent = TestClient(app, headers={"X-API-Key": AGENT_KEY})
    req = _ask(agent)
    hall = sign_in(app, "hall")
    assert hall.get(f"/api/v1/vault/requests/{req['id']}").status_code == 404
    assert hall.get("/api/v1/vault/requests").json() == []
    agent_session = sign_in(app, "agent", demo_password("agent"))
    assert [x["id"] for x in agent_session.get("/api/v1/vault/requests").json()] == [req["id"]]
    hall_use = hall.post(f"/api/v1/vault/requests/{req['id']}/use", headers={"X-CSRF-Token": _token(hall)})
    assert hall_use.status_code in (403, 409)


def test_hostile_reasons_are_refused_with_a_reason(app) -> None:  # type: ignore[no-untyped-def]
    agent = TestClient(app, headers={"X-API-Key": AGENT_KEY})
    for raw in ('"核对\\u0000话费"', '"核对话费\\ud800"'):
        r = agent.post(
            "/api/v1/vault/requests",
            content=f'{{"operation": "identity", "msisdn": "{ALICE}", "reason": {raw}}}'.encode(),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["error"] in ("bad_reason", "invalid_request"), r.text


def test_break_glass_and_review_through_the_api(app) -> None:  # type: ignore[no-untyped-def]
    sup = sign_in(app, "supervisor")
    r = sup.post(
        "/api/v1/vault/break-glass",
        json={
            "operation": "location",
            "msisdn": ALICE,
            "reason": "客户失联家属报警",
            "date_from": str(TODAY),
            "date_to": str(TODAY),
        },
        headers={"X-CSRF-Token": _token(sup)},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["request_id"]
    agent = TestClient(app, headers={"X-API-Key": AGENT_KEY})
    denied = agent.post(
        "/api/v1/vault/break-glass", json={"operation": "cdr", "msisdn": ALICE, "reason": "紧急情况处理"}
    )
    assert denied.status_code == 403 and denied.json()["error"] == "not_break_glass_role"
    sec, token = _security(app)
    assert [x["id"] for x in sec.get("/api/v1/vault/reviews").json()] == [rid]
    done = sec.post(
        f"/api/v1/vault/requests/{rid}/review",
        json={"outcome": "accepted", "note": "有报警回执"},
        headers={"X-CSRF-Token": token},
    )
    assert done.status_code == 200 and done.json()["review_status"] == "accepted"
