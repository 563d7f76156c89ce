"""Every role × every route, consoles and the /api/v1 REST API alike.

The expected matrix is written out here, independently of the code; the test checks that
(1) every route of the app is in it and declares exactly these roles, (2) every allowed role
gets through, (3) every other role is refused: 403 for a wrong role, a sign-in redirect or 401
without a credential the route accepts, and 404 for another SP's or subscriber's object.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mingbai.accounts.service import get_user, start_staff_session, start_subscriber_session
from mingbai.auth.models import ApiKey
from mingbai.auth.service import Role
from mingbai.disputes.service import open_dispute
from mingbai.subscriptions.service import list_subscriptions
from tests.consoles.conftest import API_KEYS, csrf_of
from tests.disputes.conftest import charge
from tests.helpers import ALICE, BOB, order, subscribe

R = Role
ALL = frozenset(Role)
#: roles that reach the API with a key only, never a console session
KEY_ONLY = frozenset({R.SMSC, R.REVIEWER})
CONSOLE = ALL - KEY_ONLY
FRONT = frozenset({R.AGENT, R.HALL, R.SUPERVISOR})
OVERSIGHT = frozenset({R.OPERATOR, R.SUPERVISOR, R.AUDITOR})
API_STAFF = frozenset({R.AGENT, R.HALL, R.OPERATOR})
VAULT_ASK = frozenset({R.AGENT, R.HALL, R.SUPERVISOR, R.OPERATOR})
PUBLIC = None

#: (method, path) → roles allowed (None: open to everyone)
CONSOLE_ROUTES: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login/staff"): PUBLIC,
    ("POST", "/login/sms/request"): PUBLIC,
    ("POST", "/login/sms/verify"): PUBLIC,
    ("GET", "/lang"): PUBLIC,
    ("GET", "/console"): CONSOLE,
    ("POST", "/logout"): CONSOLE,
    ("GET", "/agent"): FRONT,
    ("POST", "/agent"): FRONT,
    ("GET", "/agent/subscribers/{msisdn}"): FRONT,
    ("POST", "/agent/subscribers/{msisdn}/unsubscribe"): FRONT,
    ("POST", "/agent/subscribers/{msisdn}/orders"): FRONT,
    ("GET", "/me"): frozenset({R.SUBSCRIBER}),
    ("GET", "/me/subscriptions/{subscription_id}"): frozenset({R.SUBSCRIBER}),
    ("POST", "/me/unsubscribe"): frozenset({R.SUBSCRIBER}),
    ("GET", "/sp"): frozenset({R.SP}),
    ("GET", "/sp/orders/{order_id}"): frozenset({R.SP}),
    ("GET", "/sp/keys"): frozenset({R.SP}),
    ("POST", "/sp/keys"): frozenset({R.SP}),
    ("POST", "/sp/keys/{key_id}/revoke"): frozenset({R.SP}),
    ("GET", "/ops"): OVERSIGHT,
    ("GET", "/ops/catalog"): OVERSIGHT,
    ("POST", "/ops/catalog/sps"): frozenset({R.OPERATOR}),
    ("POST", "/ops/catalog/services"): frozenset({R.OPERATOR}),
    ("POST", "/ops/catalog/sps/{code}/status"): frozenset({R.OPERATOR}),
    ("POST", "/ops/catalog/services/{code}/status"): frozenset({R.OPERATOR}),
    ("GET", "/security/sign-ins"): frozenset({R.SECURITY, R.AUDITOR}),
    # the auditor console (issue 16)
    ("GET", "/security/audit"): frozenset({R.SECURITY, R.AUDITOR}),
    ("POST", "/security/audit"): frozenset({R.SECURITY, R.AUDITOR}),
    ("GET", "/security/audit/export.csv"): frozenset({R.SECURITY, R.AUDITOR}),
    ("POST", "/security/audit/verify"): frozenset({R.SECURITY, R.AUDITOR}),
    # disputes (issue 15)
    ("GET", "/agent/disputes"): FRONT,
    ("GET", "/agent/subscribers/{msisdn}/disputes"): FRONT,
    ("POST", "/agent/subscribers/{msisdn}/disputes"): FRONT,
    ("GET", "/agent/subscribers/{msisdn}/evidence"): FRONT,
    ("GET", "/agent/disputes/{dispute_id}"): FRONT,
    ("POST", "/agent/disputes/{dispute_id}/decision"): FRONT,
    ("GET", "/ops/disputes"): OVERSIGHT,
    ("GET", "/me/disputes"): frozenset({R.SUBSCRIBER}),
    ("POST", "/me/disputes"): frozenset({R.SUBSCRIBER}),
    ("GET", "/sp/refunds"): frozenset({R.SP}),
    # the vault (issue 16): requesters ask and use, security approves, denies and reviews
    ("POST", "/agent/subscribers/{msisdn}/vault"): FRONT,
    ("POST", "/agent/subscribers/{msisdn}/break-glass"): FRONT,
    ("GET", "/vault"): VAULT_ASK,
    ("GET", "/vault/rows"): VAULT_ASK,
    ("GET", "/vault/count"): VAULT_ASK,
    ("POST", "/vault/requests/{request_id}/use"): VAULT_ASK,
    ("GET", "/ops/exports"): frozenset({R.OPERATOR}),
    ("POST", "/ops/exports"): frozenset({R.OPERATOR}),
    ("GET", "/security/vault"): frozenset({R.SECURITY}),
    ("GET", "/security/vault/rows"): frozenset({R.SECURITY}),
    ("GET", "/security/vault/count"): frozenset({R.SECURITY}),
    ("POST", "/security/vault/{request_id}/approve"): frozenset({R.SECURITY}),
    ("POST", "/security/vault/{request_id}/deny"): frozenset({R.SECURITY}),
    ("POST", "/security/vault/{request_id}/review"): frozenset({R.SECURITY}),
    ("GET", "/me/access"): frozenset({R.SUBSCRIBER}),
    # the demo handset: open, and present only with the in-process gateway
    ("GET", "/"): PUBLIC,
    ("GET", "/handset"): PUBLIC,
    ("GET", "/handset/thread"): PUBLIC,
    ("POST", "/handset/send"): PUBLIC,
}

API_ROUTES: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", "/api/v1/orders"): frozenset({R.SP}),
    ("GET", "/api/v1/orders/{order_id}"): frozenset({R.SP}),
    ("GET", "/api/v1/subscriptions"): frozenset({R.SP}),
    ("POST", "/api/v1/subscriptions/unsubscribe"): frozenset({R.SP}),
    ("GET", "/api/v1/services"): frozenset({R.SP}),
    ("GET", "/api/v1/subscribers/{msisdn}/subscriptions"): API_STAFF,
    ("GET", "/api/v1/subscribers/{msisdn}/history"): API_STAFF,
    ("POST", "/api/v1/subscribers/{msisdn}/unsubscribe"): API_STAFF,
    ("POST", "/api/v1/subscribers/{msisdn}/orders"): API_STAFF,
    ("GET", "/api/v1/catalog/sps"): frozenset({R.OPERATOR}),
    ("PUT", "/api/v1/catalog/sps/{code}"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/catalog/sps/{code}/status"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/catalog/services"): frozenset({R.OPERATOR}),
    ("PUT", "/api/v1/catalog/services/{code}"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/catalog/services/{code}/status"): frozenset({R.OPERATOR}),
    ("PUT", "/api/v1/catalog/subscribers/{msisdn}"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/catalog/import"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/sms/mo"): frozenset({R.SMSC}),
    ("POST", "/api/v1/sms/mo/batch"): frozenset({R.SMSC}),
    ("GET", "/api/v1/sms/outbox/stats"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/campaigns"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/campaigns"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/campaigns/{campaign_id}"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/campaigns/{campaign_id}/start"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/campaigns/{campaign_id}/pause"): frozenset({R.OPERATOR}),
    # charging (issue 4)
    ("POST", "/api/v1/billing/runs"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/billing/runs"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/usage/imports"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/subscribers/{msisdn}/charges"): API_STAFF,
    ("GET", "/api/v1/charges"): frozenset({R.SP}),
    ("POST", "/api/v1/subscribers/{msisdn}/objections"): frozenset({R.AGENT, R.HALL}),
    ("GET", "/api/v1/objections"): API_STAFF,
    ("GET", "/api/v1/subscribers/{msisdn}/balance"): API_STAFF,
    ("POST", "/api/v1/subscribers/{msisdn}/recharges"): frozenset({R.AGENT, R.HALL}),
    ("POST", "/api/v1/subscribers/{msisdn}/payments"): frozenset({R.HALL, R.OPERATOR}),
    ("POST", "/api/v1/subscribers/{msisdn}/credits"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/recharge-cards"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/subscribers/{msisdn}/bill"): API_STAFF,
    ("GET", "/api/v1/subscribers/{msisdn}/bill.html"): API_STAFF,
    ("GET", "/api/v1/subscribers/{msisdn}/advice"): API_STAFF,
    ("POST", "/api/v1/subscribers"): frozenset({R.HALL, R.OPERATOR}),
    ("GET", "/api/v1/packages"): API_STAFF,
    ("POST", "/api/v1/spam/check"): frozenset({R.SMSC}),
    ("POST", "/api/v1/spam/check/batch"): frozenset({R.SMSC}),
    ("GET", "/api/v1/spam/reviews"): frozenset({R.REVIEWER, R.OPERATOR}),
    ("POST", "/api/v1/spam/reviews/{review_id}/decision"): frozenset({R.REVIEWER}),
    ("GET", "/api/v1/spam/reports"): frozenset({R.REVIEWER, R.OPERATOR}),
    ("POST", "/api/v1/spam/reports/{report_id}/decision"): frozenset({R.REVIEWER}),
    ("GET", "/api/v1/spam/reports/stats"): frozenset({R.REVIEWER, R.OPERATOR}),
    ("POST", "/api/v1/spam/referrals/export"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/spam/ports"): frozenset({R.REVIEWER, R.OPERATOR}),
    ("POST", "/api/v1/spam/ports"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/spam/ports/{port}/state"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/spam/ports/{port}/history"): frozenset({R.REVIEWER, R.OPERATOR}),
    ("GET", "/api/v1/spam/strategies"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/spam/strategies"): frozenset({R.OPERATOR}),
    ("POST", "/api/v1/spam/strategies/{version}/activate"): frozenset({R.OPERATOR}),
    # disputes (issue 15)
    ("POST", "/api/v1/subscribers/{msisdn}/disputes"): frozenset({R.AGENT, R.HALL}),
    ("GET", "/api/v1/subscribers/{msisdn}/disputes"): API_STAFF,
    ("GET", "/api/v1/disputes"): API_STAFF,
    ("GET", "/api/v1/disputes/{dispute_id}"): API_STAFF,
    ("POST", "/api/v1/disputes/{dispute_id}/decision"): frozenset({R.AGENT, R.HALL}),
    ("GET", "/api/v1/subscribers/{msisdn}/evidence"): API_STAFF,
    ("GET", "/api/v1/audit/consent"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/dispute-policies"): API_STAFF,
    ("POST", "/api/v1/dispute-policies"): frozenset({R.OPERATOR}),
    ("GET", "/api/v1/refunds"): frozenset({R.SP}),
    # vault (issue 16): requesters by key or console session, security by session only
    ("POST", "/api/v1/vault/requests"): VAULT_ASK,
    ("GET", "/api/v1/vault/requests"): VAULT_ASK,
    ("GET", "/api/v1/vault/requests/{request_id}"): VAULT_ASK | {R.SECURITY},
    ("GET", "/api/v1/vault/pending"): frozenset({R.SECURITY}),
    ("POST", "/api/v1/vault/requests/{request_id}/approve"): frozenset({R.SECURITY}),
    ("POST", "/api/v1/vault/requests/{request_id}/deny"): frozenset({R.SECURITY}),
    ("POST", "/api/v1/vault/requests/{request_id}/use"): VAULT_ASK,
    ("POST", "/api/v1/vault/break-glass"): VAULT_ASK,
    ("GET", "/api/v1/vault/reviews"): frozenset({R.SECURITY}),
    ("POST", "/api/v1/vault/requests/{request_id}/review"): frozenset({R.SECURITY}),
}
#: API routes a console session reaches too (web.deps.require_staff): a session of a role not
#: allowed is refused with 403, not 401
SESSION_API = {key for key in API_ROUTES if key[1].startswith("/api/v1/vault/")}

#: infrastructure routes outside the matrix
UNGUARDED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz", "/static", "/metrics"}

#: who signs in as each role
USERS = {
    R.AGENT: "agent",
    R.HALL: "hall",
    R.SUPERVISOR: "supervisor",
    R.OPERATOR: "operator",
    R.SECURITY: "security",
    R.AUDITOR: "auditor",
    R.SP: "sina",
}


def app_routes(app) -> dict[tuple[str, str], Any]:  # type: ignore[no-untyped-def]
    """(method, path) → the route's declared roles (None when public), found in its dependencies."""
    found: dict[tuple[str, str], Any] = {}

    def declared(route: Any) -> Any:
        calls = []

        def walk(dep: Any) -> None:
            for sub in dep.dependencies:
                calls.append(sub.call)
                walk(sub)

        walk(route.dependant)
        marks = [c for c in calls if hasattr(c, "allowed_roles")]
        assert len(marks) == 1, f"{route.path} must declare its roles exactly once, has {len(marks)}"
        return marks[0].allowed_roles

    def visit(route: Any, prefix: str = "") -> None:
        if hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                visit_leaf(ctx.original_route, ctx.path)
        else:
            visit_leaf(route, getattr(route, "path", ""))

    def visit_leaf(route: Any, path: str) -> None:
        if path in UNGUARDED or not hasattr(route, "dependant"):
            return
        for method in route.methods - {"HEAD"}:
            found[(method, path)] = declared(route)

    for route in app.routes:
        visit(route)
    return found


def test_every_route_is_in_the_matrix_and_declares_exactly_its_roles(app):
    routes = app_routes(app)
    expected = {**CONSOLE_ROUTES, **API_ROUTES}
    assert set(routes) == set(expected), (
        f"missing from the matrix: {set(routes) - set(expected)}; gone from the app: {set(expected) - set(routes)}"
    )
    for key, roles in expected.items():
        assert routes[key] == roles, f"{key}: declares {routes[key]}, matrix says {roles}"


@pytest.fixture
def world(app, platform):  # type: ignore[no-untyped-def]
    """Objects to point the routes at: ALICE's subscription, a SINA order, SINA's key."""
    subscribe(platform, ALICE, "SINA-NEWS")
    subscribe(platform, BOB, "QQ-TONES")
    placed, _ = order(platform, ALICE, "SINA-WEATHER")
    tencent_order = order_for_tencent(platform)
    with platform.uow() as ctx:
        alice_sub = list_subscriptions(ctx, msisdn=ALICE)[0].id
        bob_sub = list_subscriptions(ctx, msisdn=BOB)[0].id
        sina_key = ctx.session.scalar(select(ApiKey.id).where(ApiKey.sp_code == "SINA"))
        sessions = {role: start_staff_session(ctx, get_user(ctx, name)) for role, name in USERS.items()}
        sessions[R.SUBSCRIBER] = start_subscriber_session(ctx, ALICE)
        tencent = start_staff_session(ctx, get_user(ctx, "tencent"))
        bob = start_subscriber_session(ctx, BOB)
    fee = charge(platform, subscription_id=alice_sub, period="2026-05")
    with platform.uow() as ctx:
        dispute_id = open_dispute(
            ctx, msisdn=ALICE, channel="hotline", actor="test", charge_ids=[fee], keep_service=True
        ).id
    return {
        "msisdn": ALICE,
        "subscription_id": alice_sub,
        "bob_subscription_id": bob_sub,
        "order_id": placed.order_id,
        "tencent_order_id": tencent_order,
        "key_id": sina_key,
        "code": "SOHU",
        "dispute_id": dispute_id,
        "charge_id": fee,
        "request_id": 1,  # no such vault request: every allowed role gets a 404, none a 401/403
        "sessions": sessions,
        "tencent_session": tencent,
        "bob_session": bob,
    }


def order_for_tencent(platform) -> int:  # type: ignore[no-untyped-def]
    from mingbai.subscriptions.service import place_order

    with platform.uow() as ctx:
        return place_order(ctx, msisdn=BOB, service_code="QQ-GAME", channel="sp", actor="test").order_id


def _url(path: str, world: dict[str, Any]) -> str:
    url = path
    for name in ("msisdn", "subscription_id", "order_id", "key_id", "code", "dispute_id", "request_id"):
        url = url.replace("{" + name + "}", str(world[name]))
    if path.startswith("/ops/catalog/services/"):
        url = url.replace("/SOHU/", "/SOHU-MMS/")
    if path == "/api/v1/subscriptions":
        url += f"?msisdn={ALICE}"
    if path.endswith("/evidence"):
        url += f"?charge={world['charge_id']}"
    if path == "/handset/thread":
        url += f"?msisdn={ALICE}"
    return url


def _console_client(app, world: dict[str, Any], role: Role) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app, base_url="http://testserver")
    if role in KEY_ONLY:
        c.headers["X-API-Key"] = API_KEYS[role.value][1]  # an API key is no console credential
    else:
        c.cookies.set("mb_session", world["sessions"][role])
    return c


def _form(path: str) -> dict[str, str]:
    """Harmless form data: nothing active is ended, nothing really changes."""
    if path.endswith("/status"):
        return {"status": "active"}
    if path == "/sp/keys":
        return {"label": "matrix"}
    if path.endswith("/unsubscribe"):
        return {"subscription_id": "1"}
    return {}


def test_console_matrix(app, world):
    refusals = 0
    for role in sorted(ALL, key=str):
        c = _console_client(app, world, role)
        token = csrf_of(c.get("/login").text)
        # sign-out last: it ends the session the other routes use
        for (method, path), allowed in sorted(CONSOLE_ROUTES.items(), key=lambda kv: kv[0][1] == "/logout"):
            url = _url(path, world)
            if method == "GET":
                r = c.get(url, follow_redirects=False)
            else:
                r = c.post(url, data={**_form(path), "csrf_token": token}, follow_redirects=False)
            where = f"{role.value} {method} {url} → {r.status_code}"
            if allowed is None or role in allowed:
                assert r.status_code not in (401, 403), where
                assert not r.headers.get("location", "").startswith("/login?next"), where
                assert r.status_code < 500, where
            elif role in KEY_ONLY:
                assert r.status_code == 303 and r.headers["location"].startswith("/login?next"), where
                refusals += 1
            else:
                assert r.status_code == 403, where
                refusals += 1
    assert refusals > 100


def test_console_routes_without_a_session_send_to_sign_in(app, world):
    c = TestClient(app)
    for (method, path), allowed in CONSOLE_ROUTES.items():
        if allowed is None:
            continue
        url = _url(path, world)
        r = c.get(url, follow_redirects=False) if method == "GET" else c.post(url, data={}, follow_redirects=False)
        if method == "GET":
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url
        else:
            assert r.status_code in (303, 403), url  # no token: refused by CSRF before anything else


def _api_body(path: str) -> Any:
    return {}


def test_api_matrix(app, world):
    refusals = 0
    for role in sorted(ALL, key=str):
        c = TestClient(app)
        if role.value in API_KEYS:
            c.headers["X-API-Key"] = API_KEYS[role.value][1]
        else:
            # console-only roles: their session cookie is no API credential, except on the routes
            # that take one (SESSION_API), where unsafe methods carry the page's CSRF token
            c.cookies.set("mb_session", world["sessions"][role])
            c.headers["X-CSRF-Token"] = csrf_of(c.get("/login").text)
        for (method, path), allowed in API_ROUTES.items():
            url = _url(path, world)
            r = c.request(method, url, json=None if method == "GET" else _api_body(path))
            where = f"{role.value} {method} {url} → {r.status_code} {r.text[:120]}"
            if role in allowed:
                assert r.status_code not in (401, 403), where
                assert r.status_code < 500, where
            elif role.value in API_KEYS or (method, path) in SESSION_API:
                assert r.status_code == 403, where
                refusals += 1
            else:
                assert r.status_code == 401, where
                refusals += 1
    anonymous = TestClient(app)
    for method, path in API_ROUTES:
        assert anonymous.request(method, _url(path, world), json=None if method == "GET" else {}).status_code == 401
    assert refusals > 80


def test_another_sps_objects_are_not_found(app, world, platform):
    tencent = TestClient(app, cookies={"mb_session": world["tencent_session"]})
    assert tencent.get(f"/sp/orders/{world['order_id']}").status_code == 404
    assert tencent.get(f"/sp/orders/{world['tencent_order_id']}").status_code == 200
    token = csrf_of(tencent.get("/sp/keys").text)
    r = tencent.post(f"/sp/keys/{world['key_id']}/revoke", data={"csrf_token": token})
    assert r.status_code == 404
    with platform.uow() as ctx:
        assert ctx.session.get(ApiKey, world["key_id"]).revoked_at is None  # SINA's key untouched
    page = tencent.get("/sp").text
    assert "SINA-NEWS" not in page and "SINA-WEATHER" not in page and "QQ-GAME" in page
    api = TestClient(app, headers={"X-API-Key": "demo-tencent-test"})
    assert api.get(f"/api/v1/orders/{world['order_id']}").status_code == 401  # no such key
    api = TestClient(app, headers={"X-API-Key": API_KEYS["sp"][1]})  # SINA's key
    assert api.get(f"/api/v1/orders/{world['tencent_order_id']}").status_code == 404


def test_another_subscribers_objects_are_not_found(app, world, platform):
    bob = TestClient(app, cookies={"mb_session": world["bob_session"]})
    assert bob.get(f"/me/subscriptions/{world['subscription_id']}").status_code == 404
    assert bob.get(f"/me/subscriptions/{world['bob_subscription_id']}").status_code == 200
    token = csrf_of(bob.get("/me").text)
    r = bob.post("/me/unsubscribe", data={"subscription_id": str(world["subscription_id"]), "csrf_token": token})
    assert r.status_code == 404
    with platform.uow() as ctx:
        assert [s.status for s in list_subscriptions(ctx, msisdn=ALICE)] == ["active"]  # ALICE keeps hers
