"""What each console does, through its pages (each test on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from mingbai.accounts.service import get_user, start_staff_session
from mingbai.auth.models import ApiKey
from mingbai.catalog.service import get_service, get_sp, status_changes
from mingbai.consoles.dashboard import dashboard
from mingbai.subscriptions.models import Order, SubscriptionEvent
from mingbai.subscriptions.service import list_subscriptions
from tests.consoles.conftest import csrf_of, post_form, sign_in, sign_in_subscriber
from tests.helpers import ALICE, BOB, order, subscribe


def _events(platform, msisdn: str, kind: str) -> list[SubscriptionEvent]:  # type: ignore[no-untyped-def]
    with platform.uow() as ctx:
        return list(
            ctx.session.scalars(
                select(SubscriptionEvent).where(SubscriptionEvent.msisdn == msisdn, SubscriptionEvent.kind == kind)
            )
        )


# -- agent console -----------------------------------------------------------------------------


def test_a_subscriber_is_named_by_an_opaque_reference_in_every_address(app, platform):
    """The search posts the number and lands on the page by reference; a number typed into the
    address bar moves to the reference; a forged or altered reference is a 404."""
    subscribe(platform, ALICE, "SINA-NEWS")
    c = sign_in(app, "agent")
    r = post_form(c, "/agent", "/agent", {"msisdn": "138 0013 8000"})
    assert r.status_code == 303 and ALICE not in r.headers["location"]
    ref = r.headers["location"].rsplit("/", 1)[1]
    assert "138****8000" in c.get(r.headers["location"]).text
    for typed in (f"/agent/subscribers/{ALICE}", f"/agent/subscribers/{ALICE}/disputes"):
        moved = c.get(typed, follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"] == typed.replace(ALICE, ref)
    moved = c.get(f"/agent/subscribers/{ALICE}/evidence", params={"charge": 1}, follow_redirects=False)
    assert moved.headers["location"] == f"/agent/subscribers/{ref}/evidence?charge=1"
    kid, _, body = ref.partition(".")
    for forged in (f"{kid}.{body[:-2]}", f"{kid}.{body[::-1]}", f"zz.{body}", "x.y"):
        assert c.get(f"/agent/subscribers/{forged}").status_code == 404
    assert c.get("/agent/subscribers/13911112222").status_code == 404  # a number with no subscriber


def test_agent_sees_all_15_fields_masked_and_history(app, platform):
    subscribe(platform, ALICE, "SINA-NEWS")
    with platform.uow() as ctx:
        from mingbai.subscriptions.service import place_order

        place_order(ctx, msisdn=ALICE, service_code="QQ-TONES", channel="sp", actor="t", gifter=BOB)
    c = sign_in(app, "agent")
    r = c.get("/agent", params={"msisdn": "+86 138-0013-8000"}, follow_redirects=False)
    # the subscriber's page is named by an opaque reference: the number stays out of the URL
    assert r.status_code == 303 and r.headers["location"].startswith("/agent/subscribers/")
    assert ALICE not in r.headers["location"] and "0013" not in r.headers["location"]
    page = c.get(r.headers["location"])
    html = page.text
    assert page.headers["cache-control"] == "no-store"
    for label in (
        "SP 名称",
        "业务代码",
        "业务名称",
        "订购时间",
        "业务类型",
        "计费类型",
        "资费",
        "状态",
        "订购渠道",
        "变更历史",
        "SP 客服电话",
        "联系人",
        "赠送人",
        "业务描述",
        "业务属性",
    ):
        assert f"<dt>{label}</dt>" in html, label
    assert "头条新闻" in html and "新浪" in html and "9510567" in html and "¥5.00/月" in html
    assert "每日两条新闻早晚报" in html and "免费至" in html and "2026-04-30" in html
    assert "138****8000" in html and ALICE not in html.replace(f"/agent/subscribers/{ALICE}", "")
    assert "张*" in html and "张三" not in html
    assert "4301**********1234" in html and "430102199001011234" not in html
    assert "客户确认" in html and "开通" in html  # history, translated
    assert "客户 138****8000" in html and "subscriber:" not in html  # actors masked and in words too
    assert "等待客户确认" in html and "QQ-TONES" in html  # the pending order


def test_agent_unknown_number_is_a_clear_404(app):
    c = sign_in(app, "agent")
    assert c.get("/agent", params={"msisdn": "13512345678"}).status_code == 404
    assert c.get("/agent", params={"msisdn": "12345"}).status_code == 404
    assert c.get("/agent/subscribers/13512345678").status_code == 404


def test_agent_unsubscribes_one_service_with_channel_hotline(app, platform, gateway):
    subscribe(platform, ALICE, "SINA-NEWS")
    subscribe(platform, ALICE, "QQ-TONES")
    with platform.uow() as ctx:
        news = next(s for s in list_subscriptions(ctx, msisdn=ALICE) if s.service_code == "SINA-NEWS")
    c = sign_in(app, "agent")
    page = f"/agent/subscribers/{ALICE}"  # a number typed into the address bar still opens the page
    r = post_form(c, page, f"{page}/unsubscribe", {"subscription_id": str(news.id)})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=unsubscribed")
    assert ALICE not in r.headers["location"]
    with platform.uow() as ctx:
        status = {s.service_code: (s.status, s.unsubscribe_channel) for s in list_subscriptions(ctx, msisdn=ALICE)}
    assert status == {"SINA-NEWS": ("unsubscribed", "hotline"), "QQ-TONES": ("active", None)}
    (event,) = _events(platform, ALICE, "unsubscribed")
    assert event.actor == "agent:agent" and event.channel == "hotline"
    assert "退订" in "".join(gateway.delivered[-1].parts)  # the subscriber is told by SMS
    assert "已退订,确认短信已发送" in c.get(f"{page}?done=unsubscribed").text


def test_hall_clerk_unsubscribes_all_with_channel_hall_through_htmx(app, platform):
    subscribe(platform, ALICE, "SINA-NEWS")
    subscribe(platform, ALICE, "QQ-TONES")
    c = sign_in(app, "hall")
    page = f"/agent/subscribers/{ALICE}"
    token = csrf_of(c.get(page).text)
    r = c.post(f"{page}/unsubscribe", data={"all": "true"}, headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="subs-panel">')  # only the panel
    assert "已退订,确认短信已发送" in r.text
    with platform.uow() as ctx:
        subs = list_subscriptions(ctx, msisdn=ALICE)
    assert {(s.status, s.unsubscribe_channel) for s in subs} == {("unsubscribed", "hall")}


def test_agent_order_waits_for_the_subscribers_sms_confirmation(app, platform, gateway):
    c = sign_in(app, "agent")
    page = f"/agent/subscribers/{ALICE}"
    r = post_form(c, page, f"{page}/orders", {"service_code": "SINA-WEATHER"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=order_placed")
    with platform.uow() as ctx:
        (o,) = ctx.session.scalars(select(Order).where(Order.msisdn == ALICE)).all()
        assert list_subscriptions(ctx, msisdn=ALICE) == []  # nothing until the subscriber says yes
    assert o.status == "pending" and o.channel == "hotline" and o.actor == "agent:agent"
    sms = "".join(gateway.delivered[-1].parts)
    assert "天气预报" in sms and re.search(r"验证码\d{6}", sms)
    # a second order for the same service is refused with a clear message, not a 500
    r = post_form(c, page, f"{page}/orders", {"service_code": "SINA-WEATHER"})
    assert r.status_code == 409 and "已有订购在等待客户确认" in r.text


# -- subscriber portal -------------------------------------------------------------------------


def test_subscriber_sees_prices_and_free_until_and_unsubscribes_all(app, platform):
    subscribe(platform, ALICE, "SINA-NEWS")
    subscribe(platform, ALICE, "QQ-TONES")
    subscribe(platform, BOB, "SOHU-MMS")
    c = sign_in_subscriber(app, platform, ALICE)
    html = c.get("/me").text
    assert "头条新闻" in html and "精品图铃" in html and "彩信杂志" not in html  # only mine
    assert "¥5.00/月" in html and "¥3.00/月" in html and "免费至 2026-04-30" in html and "2026-05-01 起收费" in html
    assert "近期没有扣费" in html and "计费功能上线后" not in html  # charging is wired: in trial, nothing charged yet
    r = post_form(c, "/me", "/me/unsubscribe", {"all": "true"})
    assert r.status_code == 303
    with platform.uow() as ctx:
        assert {(s.status, s.unsubscribe_channel) for s in list_subscriptions(ctx, msisdn=ALICE)} == {
            ("unsubscribed", "web")
        }
        assert [s.status for s in list_subscriptions(ctx, msisdn=BOB)] == ["active"]
    assert "您当前没有订购任何增值业务" in c.get("/me").text


def test_subscriber_page_works_in_english(app, platform):
    subscribe(platform, ALICE, "SINA-NEWS")
    c = sign_in_subscriber(app, platform, ALICE)
    r = c.get("/lang", params={"to": "en", "next": "/me"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"
    html = c.get("/me").text
    assert '<html lang="en">' in html and "My services" in html and "Free until 2026-04-30" in html
    assert "¥5.00/month" in html and "中文" in html  # the switch back
    c.get("/lang", params={"to": "zh-CN"})
    assert '<html lang="zh-CN">' in c.get("/me").text


# -- SP portal -----------------------------------------------------------------------------------


def test_sp_sees_its_own_orders_rate_and_masked_subscribers(app, platform):
    subscribe(platform, ALICE, "SINA-NEWS")  # confirmed
    order(platform, BOB, "SINA-WEATHER")  # pending
    subscribe(platform, BOB, "QQ-TONES")  # another SP's
    c = sign_in(app, "sina")
    html = c.get("/sp").text
    table = html.split('id="sp-order-table"')[1].split("</table>")[0]
    assert "SINA-NEWS" in table and "SINA-WEATHER" in table and "QQ-TONES" not in table
    assert '<strong id="sp-orders">2</strong>' in html and '<strong id="sp-rate">50.0%</strong>' in html
    assert "138****8000" in html and ALICE not in html and BOB not in html


def test_sp_creates_a_key_shown_once_and_revokes_it(app, platform):
    c = sign_in(app, "sina")
    r = post_form(c, "/sp/keys", "/sp/keys", {"label": "production"})
    key = re.search(r'id="new-key" readonly value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    assert key.startswith("mb_")
    api = {"X-API-Key": key}
    from fastapi.testclient import TestClient

    assert TestClient(app).get("/api/v1/services", headers=api).status_code == 200
    listing = c.get("/sp/keys").text
    assert key not in listing and key[:10] in listing  # never shown again; the prefix identifies it
    with platform.uow() as ctx:
        key_id = ctx.session.scalar(select(ApiKey.id).where(ApiKey.label == "production"))
        assert ctx.session.get(ApiKey, key_id).sp_code == "SINA"  # bound to the user's SP, never chosen
    r = post_form(c, "/sp/keys", f"/sp/keys/{key_id}/revoke")
    assert r.status_code == 303
    assert TestClient(app).get("/api/v1/services", headers=api).status_code == 401


# -- operator -----------------------------------------------------------------------------------


def test_dashboard_counts_per_day_and_per_sp(app, platform, clock):
    subscribe(platform, ALICE, "SINA-NEWS")
    order(platform, BOB, "SINA-WEATHER")  # never confirmed
    platform.receive_sms(ALICE, "10086", "0000")
    clock.advance(timedelta(days=1))
    subscribe(platform, BOB, "QQ-TONES")
    platform.receive_sms(ALICE, "10086", "00000")
    platform.receive_sms(BOB, "10086", "0000")
    with platform.uow() as ctx:
        board = dashboard(ctx, date(2026, 4, 9), date(2026, 4, 11))
    by_day = {d.day: d for d in board.days}
    d10, d11 = by_day[date(2026, 4, 10)], by_day[date(2026, 4, 11)]
    assert (d10.orders, d10.confirmed, d10.unsubscribed, d10.queries) == (2, 1, 0, 1)
    assert (d11.orders, d11.confirmed, d11.unsubscribed, d11.queries) == (1, 1, 1, 1)
    assert by_day[date(2026, 4, 9)].orders == 0
    assert d10.reminders == {"confirmation_request": 2, "order_reminder": 1}
    assert d11.reminders == {"confirmation_request": 1, "order_reminder": 1, "unsubscribe_confirmation": 1}
    sps = {s.sp_code: s for s in board.sps}
    assert (sps["SINA"].orders, sps["SINA"].confirmed, sps["SINA"].unsubscribed, sps["SINA"].active) == (2, 1, 1, 0)
    assert (sps["TENCENT"].orders, sps["TENCENT"].confirmed, sps["TENCENT"].active) == (1, 1, 1)
    assert sps["SINA"].rate == 0.5 and sps["SOHU"].rate is None
    assert board.orders_by_sp["SINA"] == [0, 2, 0]


def test_dashboard_uses_shanghai_days(app, platform, clock):
    from mingbai.clock import parse_instant

    clock.set(parse_instant("2026-04-10T23:59:00+08:00"))
    order(platform, ALICE, "SINA-NEWS")
    clock.set(parse_instant("2026-04-11T00:01:00+08:00"))  # 16:01 UTC the day before
    order(platform, BOB, "SINA-NEWS")
    with platform.uow() as ctx:
        board = dashboard(ctx, date(2026, 4, 10), date(2026, 4, 11))
    assert [d.orders for d in board.days] == [1, 1]


def test_dashboard_page_renders_charts_data_and_tables(app, platform):
    subscribe(platform, ALICE, "SINA-NEWS")
    for role in ("operator", "supervisor", "auditor"):
        html = sign_in(app, role).get("/ops").text
        assert 'id="chart-data"' in html and 'id="chart-daily"' in html and "/static/vendor/echarts.min.js" in html
        assert '<strong id="kpi-orders">1</strong>' in html
    r = sign_in(app, "operator").get("/ops", params={"start": "not-a-date"})
    assert r.status_code == 422


def test_dashboard_says_a_range_was_cut_and_groups_long_ranges(app, platform):
    import json

    subscribe(platform, ALICE, "SINA-NEWS")
    c = sign_in(app, "operator")

    def chart(html: str) -> dict:
        return json.loads(html.split('id="chart-data">')[1].split("</script>")[0])

    short = c.get("/ops", params={"start": "2026-03-01", "end": "2026-04-10"}).text
    assert chart(short)["unit"] == "day" and 'id="range-cut"' not in short and 'id="chart-unit"' not in short
    weeks = chart(c.get("/ops", params={"start": "2026-01-01", "end": "2026-04-10"}).text)
    assert weeks["unit"] == "week" and len(weeks["days"]) == 15 and weeks["days"][1] == "2026-01-05"
    assert sum(weeks["orders"]) == 1 and len(weeks["orders_by_sp"]["SINA"]) == 15
    months = c.get("/ops", params={"start": "2025-06-01", "end": "2026-04-10"}).text
    assert chart(months)["unit"] == "month" and chart(months)["days"][-1] == "2026-04"
    assert "按月汇总" in months
    cut = c.get("/ops", params={"start": "2020-01-01", "end": "2026-04-10"}).text
    assert 'id="range-cut"' in cut and "2020-01-01" in cut and "366" in cut


def test_operator_suspends_and_resumes_an_sp_and_a_service(app, platform):
    c = sign_in(app, "operator")
    # one click is not enough: a suspension says why, and is refused without a reason
    r = post_form(c, "/ops/catalog", "/ops/catalog/sps/SOHU/status", {"status": "suspended"})
    assert r.status_code == 422 and "reason" in r.text
    with platform.uow() as ctx:
        assert get_sp(ctx, "SOHU").status == "active"
    page = c.get("/ops/catalog").text
    assert '<details class="confirm">' in page and 'name="reason" required' in page
    r = post_form(c, "/ops/catalog", "/ops/catalog/sps/SOHU/status", {"status": "suspended", "reason": "投诉激增"})
    assert r.status_code == 303
    r = post_form(c, "/ops/catalog", "/ops/catalog/services/QQ-GAME/status", {"status": "suspended", "reason": "整改"})
    with platform.uow() as ctx:
        assert get_sp(ctx, "SOHU").status == "suspended" and get_service(ctx, "QQ-GAME").status == "suspended"
    post_form(c, "/ops/catalog", "/ops/catalog/sps/SOHU/status", {"status": "active"})
    with platform.uow() as ctx:
        assert get_sp(ctx, "SOHU").status == "active"
        changes = [(x.target, x.code, x.to_status, x.reason, x.actor) for x in reversed(status_changes(ctx))]
    # who suspended what, when and why is recorded, and shown
    assert changes == [
        ("sp", "SOHU", "suspended", "投诉激增", "operator:operator"),
        ("service", "QQ-GAME", "suspended", "整改", "operator:operator"),
        ("sp", "SOHU", "active", None, "operator:operator"),
    ]
    log = c.get("/ops/catalog").text.split('id="status-changes"')[1]
    assert "投诉激增" in log and "运营管理员 operator" in log
    assert post_form(c, "/ops/catalog", "/ops/catalog/sps/SOHU/status", {"status": "gone"}).status_code == 422
    assert post_form(c, "/ops/catalog", "/ops/catalog/sps/NOPE/status", {"status": "active"}).status_code == 404


def test_operator_adds_a_service_and_editing_keeps_its_suspension(app, platform):
    c = sign_in(app, "operator")
    data = {"code": "SOHU-JOKE", "sp": "SOHU", "name": "笑话", "type": "sms", "billing": "monthly", "price_fen": "300"}
    assert post_form(c, "/ops/catalog", "/ops/catalog/services", data).status_code == 303
    post_form(c, "/ops/catalog", "/ops/catalog/services/SOHU-JOKE/status", {"status": "suspended", "reason": "试"})
    assert post_form(c, "/ops/catalog", "/ops/catalog/services", {**data, "price_fen": "400"}).status_code == 303
    with platform.uow() as ctx:
        svc = get_service(ctx, "SOHU-JOKE")
    assert svc.price_fen == 400 and svc.status == "suspended"
    bad = post_form(c, "/ops/catalog", "/ops/catalog/services", {**data, "sp": "NOPE"})
    assert bad.status_code == 422 and "未保存" in bad.text
    r = post_form(c, "/ops/catalog", "/ops/catalog/sps", {"code": "NEW", "name": "新SP", "hotline": "abc"})
    assert r.status_code == 422


def test_security_reads_the_sign_in_log_masked(app, platform):
    from fastapi.testclient import TestClient

    c = TestClient(app)
    token = csrf_of(c.get("/login").text)
    c.post("/login/sms/request", data={"msisdn": ALICE, "csrf_token": token})
    c.post("/login/staff", data={"username": "operator", "password": "nope-nope-nope", "csrf_token": token})
    # a name that is no account is often a password typed into the wrong field: it stays masked
    c.post("/login/staff", data={"username": "hunter2secret", "password": "nope-nope-nope", "csrf_token": token})
    sec = sign_in(app, "security")
    html = sec.get("/security/sign-ins", params={"failures": "true"}).text
    log = html.split('id="sign-ins"')[1]
    # staff identities are not subscribers' personal data: security sees who was tried
    assert "<td>operator</td>" in log and "凭据错误" in html and "op***" not in log
    assert "hu******" in log and "hunter2secret" not in log
    everything = sec.get("/security/sign-ins").text
    assert "138****8000" in everything and ALICE not in everything
    assert "<td>operator</td>" in sign_in(app, "auditor").get("/security/sign-ins").text


def test_session_for_a_user_whose_role_changed_follows_the_new_role(app, platform):
    with platform.uow() as ctx:
        token = start_staff_session(ctx, get_user(ctx, "agent"))
        get_user(ctx, "agent").role = "auditor"
    from fastapi.testclient import TestClient

    c = TestClient(app, cookies={"mb_session": token})
    assert c.get("/agent").status_code == 403 and c.get("/ops").status_code == 200


def test_malformed_forms_get_an_error_page_not_json(app):
    c = sign_in(app, "agent")
    r = post_form(c, "/agent", f"/agent/subscribers/{ALICE}/unsubscribe", {"subscription_id": "not-a-number"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html") and "表单填写有误" in r.text
    from fastapi.testclient import TestClient

    api = TestClient(app).post("/api/v1/orders", json={}, headers={"X-API-Key": "key-sp-sina"})
    assert api.status_code == 422 and api.headers["content-type"] == "application/json"


def test_handset_links_to_the_consoles_and_login_offers_both_sign_ins(client, demo):
    handset = client.get("/").text
    assert 'href="/login"' in handset and 'href="/me"' in handset
    login = client.get("/login").text
    assert 'action="/login/sms/request"' in login and 'action="/login/staff"' in login
    assert '<label for="msisdn">' in login and '<label for="password">' in login
    assert 'autocomplete="current-password"' in login


def test_api_docs_use_only_assets_of_our_own_origin(client):
    """/docs works without internet: Swagger UI is vendored, served here, and fits the CSP."""
    page = client.get("/docs")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all((a.startswith("/") and not a.startswith("//")) or a == "data:," for a in assets), assets
    assert "<script>" not in page.text.replace(" ", "")  # no inline script: the CSP would refuse it
    for asset in (a for a in assets if a.startswith("/static/")):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100, asset
    assert {"/static/vendor/swagger-ui-bundle.js", "/static/vendor/swagger-ui.css"} <= set(assets)
    assert client.get("/openapi.json").json()["info"]["title"].startswith("Mingbai")


def test_catalog_form_edits_with_current_values_keeps_blanks_and_keeps_input_on_error(app, platform):
    c = sign_in(app, "operator")
    with platform.uow() as ctx:
        svc = get_service(ctx, "SINA-NEWS")
        description, keyword = svc.description, svc.mo_keyword
    assert description
    # "edit" on a row fills the form with the current values
    page = c.get("/ops/catalog", params={"edit_service": "SINA-NEWS"}).text
    form = page.split('id="svc-form-h"')[1]
    assert 'value="SINA-NEWS"' in form and f'value="{description}"' in form and 'value="500"' in form
    assert '<option value="SINA" selected>' in form and '<option value="monthly" selected>' in form
    sp_form = c.get("/ops/catalog", params={"edit_sp": "SINA"}).text.split('id="sp-form-h"')[1]
    assert 'value="9510567"' in sp_form and 'value="10668888"' in sp_form
    # a blank optional field keeps what is stored: saving never erases by omission
    fields = {"code": "SINA-NEWS", "sp": "SINA", "name": "头条新闻", "type": "sms", "billing": "monthly"}
    r = post_form(c, "/ops/catalog", "/ops/catalog/services", {**fields, "price_fen": "600", "description": ""})
    assert r.status_code == 303
    with platform.uow() as ctx:
        svc = get_service(ctx, "SINA-NEWS")
        assert (svc.description, svc.mo_keyword, svc.price_fen) == (description, keyword, 600)
    r = post_form(c, "/ops/catalog", "/ops/catalog/sps", {"code": "SINA", "name": "新浪", "hotline": "9510567"})
    with platform.uow() as ctx:
        assert r.status_code == 303 and get_sp(ctx, "SINA").access_number == "10668888"
    # a refused form comes back as it was typed
    bad = post_form(
        c,
        "/ops/catalog",
        "/ops/catalog/services",
        {
            **fields,
            "code": "NEW-SVC",
            "sp": "NOPE",
            "price_fen": "700",
            "description": "我写的说明",
            "mo_keyword": "ZZQ",
        },
    )
    assert bad.status_code == 422
    form = bad.text.split('id="svc-form-h"')[1]
    assert (
        'value="NEW-SVC"' in form and 'value="我写的说明"' in form and 'value="700"' in form and 'value="ZZQ"' in form
    )
    bad = post_form(c, "/ops/catalog", "/ops/catalog/sps", {"code": "NEW", "name": "新SP", "hotline": "abc"})
    assert bad.status_code == 422 and 'value="新SP"' in bad.text.split('id="sp-form-h"')[1]
