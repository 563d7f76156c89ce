"""REST API: SP keys see only their own; staff roles; clear 4xx, never 500."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from mingbai.messaging.service import conversation
from mingbai.sealing import REDACTED
from mingbai.web.app import create_app
from tests.helpers import ALICE, BOB, STAFF_KEYS, api_client, code_from, key_header, last_delivered


@pytest.fixture
def client(platform):
    with api_client(platform, (*STAFF_KEYS, ("smsc", "smsc", None))) as c:
        yield c


h = key_header


def test_sp_order_flow_and_isolation(client, platform):
    r = client.post("/api/v1/orders", json={"msisdn": ALICE, "service_code": "SINA-NEWS"}, headers=h("sina"))
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "pending"
    assert set(order) == {
        "order_id",
        "msisdn",
        "service_code",
        "sp_code",
        "channel",
        "gifter",
        "status",
        "price_fen",
        "created_at",
        "expires_at",
    }  # the code never goes to the SP
    # another SP cannot see it, nor order SINA's service
    assert client.get(f"/api/v1/orders/{order['order_id']}", headers=h("qq")).status_code == 404
    r = client.post("/api/v1/orders", json={"msisdn": ALICE, "service_code": "SINA-NEWS"}, headers=h("qq"))
    assert r.status_code == 404 and r.json()["error"] == "unknown_service"
    # confirm by SMS through the SMSC hook
    code = code_from(last_delivered(platform, ALICE))
    r = client.post("/api/v1/sms/mo", json={"from": ALICE, "to": "10086", "text": code}, headers=h("smsc"))
    assert r.status_code == 200 and r.json()["handled_as"] == "code_confirmed"
    assert r.json()["replies"][0]["from"] == "10086"
    assert client.get(f"/api/v1/orders/{order['order_id']}", headers=h("sina")).json()["status"] == "confirmed"
    subs = client.get("/api/v1/subscriptions", params={"msisdn": ALICE}, headers=h("sina")).json()
    assert [s["service_code"] for s in subs] == ["SINA-NEWS"] and subs[0]["first_charge_on"] == "2026-05-01"
    assert client.get("/api/v1/subscriptions", params={"msisdn": ALICE}, headers=h("qq")).json() == []
    # an SP ends only its own: TENCENT touching SINA's service changes nothing
    body = {"msisdn": ALICE, "service_code": "SINA-NEWS"}
    assert client.post("/api/v1/subscriptions/unsubscribe", json=body, headers=h("qq")).json() == []
    ended = client.post("/api/v1/subscriptions/unsubscribe", json=body, headers=h("sina")).json()
    assert [e["service_code"] for e in ended] == ["SINA-NEWS"]
    assert "退订" in last_delivered(platform, ALICE)


def test_idempotent_external_ref(client):
    body = {"msisdn": ALICE, "service_code": "SINA-NEWS", "external_ref": "abc-1"}
    a = client.post("/api/v1/orders", json=body, headers=h("sina")).json()
    b = client.post("/api/v1/orders", json=body, headers=h("sina")).json()
    assert a["order_id"] == b["order_id"]


def test_agent_query_and_unsubscribe(client, platform):
    client.post("/api/v1/subscribers/13800138000/orders", json={"service_code": "QQ-TONES"}, headers=h("a1"))
    code = code_from(last_delivered(platform, ALICE))
    platform.receive_sms(ALICE, "10086", code)
    subs = client.get(f"/api/v1/subscribers/{ALICE}/subscriptions", headers=h("a1")).json()
    (s,) = subs
    for field in [
        "sp_name",
        "service_code",
        "service_name",
        "order_time",
        "service_type",
        "billing_type",
        "price_fen",
        "status",
        "order_channel",
        "change_history",
        "sp_hotline",
        "contact",
        "gifter",
        "description",
        "attributes",
    ]:
        assert field in s
    assert s["order_channel"] == "hotline" and [e["kind"] for e in s["change_history"]] == [
        "order_placed",
        "order_confirmed",
        "subscribed",
    ]
    r = client.post(f"/api/v1/subscribers/{ALICE}/unsubscribe", json={"all": True}, headers=h("h1"))
    assert r.status_code == 200 and r.json()[0]["service_code"] == "QQ-TONES"
    hist = client.get(f"/api/v1/subscribers/{ALICE}/history", headers=h("a1")).json()
    assert hist[-1]["kind"] == "unsubscribed" and hist[-1]["channel"] == "hall"


ROUTES = [
    ("post", "/api/v1/orders", {"msisdn": ALICE, "service_code": "SINA-NEWS"}, {"sina", "qq"}),
    ("get", "/api/v1/subscriptions?msisdn=13800138000", None, {"sina", "qq"}),
    ("get", "/api/v1/services", None, {"sina", "qq"}),
    ("post", "/api/v1/subscriptions/unsubscribe", {"msisdn": ALICE, "service_code": "SINA-NEWS"}, {"sina", "qq"}),
    ("get", f"/api/v1/subscribers/{ALICE}/subscriptions", None, {"a1", "h1", "o1"}),
    ("get", f"/api/v1/subscribers/{ALICE}/history", None, {"a1", "h1", "o1"}),
    ("post", f"/api/v1/subscribers/{ALICE}/unsubscribe", {"all": True}, {"a1", "h1", "o1"}),
    ("get", "/api/v1/catalog/sps", None, {"o1"}),
    ("get", "/api/v1/catalog/services", None, {"o1"}),
    ("post", "/api/v1/catalog/sps/SINA/status", {"status": "active"}, {"o1"}),
    ("post", "/api/v1/sms/mo", {"from": ALICE, "to": "10086", "text": "0000"}, {"smsc"}),
    ("post", "/api/v1/sms/mo/batch", {"messages": [{"from": ALICE, "to": "10086", "text": "0000"}]}, {"smsc"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES)
def test_role_matrix(client, method, path, body, allowed):
    for label in ["sina", "qq", "a1", "h1", "o1", "smsc"]:
        r = client.request(method, path, json=body, headers=h(label))
        if label in allowed:
            assert r.status_code not in (401, 403), (label, path, r.text)
        else:
            assert r.status_code == 403, (label, path, r.status_code)
    assert client.request(method, path, json=body).status_code == 401
    assert client.request(method, path, json=body, headers={"X-API-Key": "nope"}).status_code == 401


def test_bad_input_is_4xx(client):
    cases = [
        ({"msisdn": "123", "service_code": "SINA-NEWS"}, 422),
        ({"msisdn": ALICE, "service_code": "NOPE"}, 404),
        ({"msisdn": ALICE}, 422),
        ({"msisdn": ALICE, "service_code": "SINA-NEWS", "bogus": 1}, 422),
    ]
    for body, status in cases:
        r = client.post("/api/v1/orders", json=body, headers=h("sina"))
        assert r.status_code == status, (body, r.text)
    r = client.post("/api/v1/sms/mo", json={"from": "1", "to": "10086", "text": "0000"}, headers=h("smsc"))
    assert r.status_code == 422 and r.json()["error"] == "bad_msisdn"


def test_mo_batch(client, platform):
    """An SMS centre hands over many MOs at once; each gets its result, in order."""
    msgs = [{"from": m, "to": "10668888", "text": "XW"} for m in (ALICE, BOB)] + [
        {"from": "1", "to": "10086", "text": "0"}
    ]
    r = client.post("/api/v1/sms/mo/batch", json={"messages": msgs}, headers=h("smsc"))
    assert r.status_code == 200, r.text
    ordered_a, ordered_b, bad = r.json()["results"]
    assert ordered_a["handled_as"] == ordered_b["handled_as"] == "sp_order"
    assert bad == {"error": "bad_msisdn", "message": bad["message"]}
    # the answer says a confirmation request went out, never its code: that is on the phones only
    assert [x["replies"][0]["text"] for x in (ordered_a, ordered_b)] == [REDACTED, REDACTED]
    codes = [code_from(last_delivered(platform, m)) for m in (ALICE, BOB)]
    assert not any(c in x["replies"][0]["text"] for c in codes for x in (ordered_a, ordered_b))
    replies = [{"from": m, "to": "10086", "text": c} for m, c in zip((ALICE, BOB), codes, strict=True)]
    r = client.post("/api/v1/sms/mo/batch", json={"messages": replies}, headers=h("smsc"))
    assert [x["handled_as"] for x in r.json()["results"]] == ["code_confirmed", "code_confirmed"]
    assert r.json()["results"][0]["replies"][0]["from"] == "10086"
    too_many = {"messages": [{"from": ALICE, "to": "10086", "text": "0000"}] * 1001}
    assert client.post("/api/v1/sms/mo/batch", json=too_many, headers=h("smsc")).status_code == 422
    assert client.post("/api/v1/sms/mo/batch", json={"messages": []}, headers=h("smsc")).status_code == 422


def test_handset_exists_only_in_the_demo(client, platform):
    """Without MINGBAI_DEMO=1 nobody can read anyone's codes or send as anyone (issue 12)."""
    assert client.get("/").status_code == 404
    assert client.get("/handset").status_code == 404
    assert client.get("/handset/thread", params={"msisdn": ALICE}).status_code == 404
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    form = {"msisdn": ALICE, "to": "10086", "text": "0000", "csrf_token": token}
    assert client.post("/handset/send", data=form).status_code == 404
    with platform.uow() as ctx:
        assert conversation(ctx, ALICE) == []  # nothing was sent as Alice


def test_handset_page(client, demo):
    r = client.get("/")
    assert r.status_code == 200 and "演示手机" in r.text
    # the form carries the page's CSRF token (consoles/security.py); htmx sends it as a header
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    form = {"msisdn": ALICE, "to": "10086", "text": "0000"}
    assert client.post("/handset/send", data=form).status_code == 403
    r = client.post("/handset/send", data={**form, "csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200 and "没有订购" in r.text
    r = client.post("/handset/send", data=form, headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 200 and "<ol" in r.text


def test_input_the_database_cannot_hold_is_a_clear_422(platform, caplog):
    """The last line behind validation: a DataError becomes 422, logged without its values."""
    from sqlalchemy.exc import DataError

    app = create_app(platform)

    @app.get("/boom")
    def boom() -> None:
        raise DataError("INSERT …", {"owner": "工行\x00 13800138000"}, ValueError("NUL"))

    r = TestClient(app).get("/boom")
    assert r.status_code == 422 and r.json()["error"] == "unstorable_input"
    assert "13800138000" not in caplog.text and "unstorable input (ValueError)" in caplog.text


def test_handset_reports_spam_shows_yuan_and_keeps_order_within_a_second(client, demo):
    platform = demo
    """10086999 is a destination; prices read in yuan; one instant's messages keep their order."""
    from tests.helpers import subscribe

    subscribe(platform, ALICE, "SINA-NEWS")
    page = client.get(f"/handset?msisdn={ALICE}")
    assert '<option value="10086999">' in page.text
    assert "资费(分)" not in page.text and "信息费5元/月" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    for text in ("0000", "第二条", "第三条", "第四条"):  # the fixed clock: all in one instant
        r = client.post("/handset/send", data={"msisdn": ALICE, "to": "10086", "text": text, "csrf_token": token})
        assert r.status_code in (200, 303)
    r = client.post(
        "/handset/send",
        data={"msisdn": ALICE, "to": "10086999", "text": "举报 106900001 【某电商】大促", "csrf_token": token},
        follow_redirects=True,
    )
    with platform.uow() as ctx:
        from mingbai.messaging.service import conversation

        sent = [m.text for m in conversation(ctx, ALICE) if m.direction == "mo"]
    assert sent[-5:] == ["0000", "第二条", "第三条", "第四条", "举报 106900001 【某电商】大促"]
    assert "已受理" in r.text
