"""The vault (金库模式, R13) through the consoles, on SQLite and PostgreSQL: an agent asks on a
subscriber's page, security approves or denies from its own session (the lists poll), the agent
uses the approval once, break-glass, exports, the subscriber's access history, and masked data on
every page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mingbai.audit.models import AuditEntry
from mingbai.catalog.models import Subscriber
from mingbai.platform import Platform
from mingbai.vault import service as vault
from mingbai.vault.models import VaultRequest
from tests.consoles.conftest import csrf_of, sign_in, sign_in_subscriber
from tests.consoles.test_role_matrix import CONSOLE_ROUTES, USERS, _url, world  # noqa: F401  (world: a fixture)
from tests.helpers import ALICE, BOB

#: the platform clock's day (tests/conftest.DEFAULT_NOW)
TODAY = date(2026, 4, 10)
REASON = "客户来电投诉话费异常,核对详单"


@pytest.fixture
def records(app, platform: Platform) -> Platform:  # type: ignore[no-untyped-def]
    """ALICE's and BOB's CDRs and locations of the last week."""
    with platform.uow() as ctx:
        cdr_rows, loc_rows = vault.demo_records([ALICE, BOB], start=TODAY - timedelta(days=6), days=7)
        vault.load_cdrs(ctx, cdr_rows)
        vault.load_locations(ctx, loc_rows)
    return platform


def delivered(platform: Platform, msisdn: str) -> list[str]:
    return ["".join(d.parts) for d in platform.gateway.delivered if d.recipient == msisdn]  # type: ignore[attr-defined]


def ask(c: TestClient, op: str = "cdr", msisdn: str = ALICE, **form: str) -> Any:
    page = c.get(f"/agent/subscribers/{msisdn}")
    assert page.status_code == 200
    data = {"operation": op, "reason": REASON, "csrf_token": csrf_of(page.text), **form}
    if op in ("cdr", "location"):
        data.setdefault("date_from", (TODAY - timedelta(days=6)).isoformat())
        data.setdefault("date_to", TODAY.isoformat())
    return c.post(f"/agent/subscribers/{msisdn}/vault", data=data, follow_redirects=False)


def post(c: TestClient, page: str, action: str, **form: str) -> Any:
    token = csrf_of(c.get(page).text)
    return c.post(action, data={**form, "csrf_token": token}, follow_redirects=False)


def last_request(platform: Platform) -> int:
    with platform.uow() as ctx:
        return int(ctx.session.scalar(select(VaultRequest.id).order_by(VaultRequest.id.desc()).limit(1)))


def version_of(html: str, path: str) -> str:
    m = re.search(re.escape(path) + r"\?v=([0-9a-f]+)", html)
    assert m, f"no polling of {path} in the page"
    return m.group(1)


def test_agent_asks_security_approves_agent_sees_cdrs_once(app, records: Platform) -> None:
    p = records
    agent, security = sign_in(app, "agent"), sign_in(app, "security")
    page = agent.get(f"/agent/subscribers/{ALICE}").text
    ask_at = re.search(r'action="/agent/subscribers/([^"/]+)/vault"', page)
    assert ask_at and ALICE not in ask_at.group(1) and "通话详单" in page
    assert "break-glass" not in page  # the agent's role may not break the glass (supervisor only)

    r = ask(agent)
    assert r.status_code == 303 and r.headers["location"] == "/vault?done=vault_requested"
    rid = last_request(p)
    mine = agent.get("/vault").text
    assert f'id="vreq-{rid}"' in mine and "待审批" in mine and "138****8000" in mine
    assert "/use" not in mine  # nothing to use yet
    v = version_of(mine, "/vault/rows")
    assert agent.get("/vault/rows", params={"v": v}).status_code == 204  # unchanged: htmx leaves the page be
    # the approver's phone got the code SMS at once
    assert any(f"申请编号{rid}" in t for t in delivered(p, "13600000001"))

    # security: the nav badge counts it, the queue shows it with the reason, the number masked
    assert security.get("/security/vault/count").text.strip().endswith("1")
    queue = security.get("/security/vault").text
    assert f'action="/security/vault/{rid}/approve"' in queue and REASON in queue
    assert ALICE not in queue and "138****8000" in queue
    qv = version_of(queue, "/security/vault/rows")
    r = post(security, "/security/vault", f"/security/vault/{rid}/approve")
    assert r.status_code == 303 and r.headers["location"] == "/security/vault?done=vault_approved"
    assert security.get("/security/vault/rows", params={"v": qv}).status_code == 200  # changed: it swaps
    assert security.get("/security/vault/count").text.strip() == ""

    # the agent's poll now returns the new rows, with the use button
    rows = agent.get("/vault/rows", params={"v": v})
    assert rows.status_code == 200 and "已批准" in rows.text and f"/vault/requests/{rid}/use" in rows.text
    assert agent.get("/vault/count").text.strip().endswith("1")

    r = post(agent, "/vault", f"/vault/requests/{rid}/use")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    assert 'id="cdr-table"' in r.text and "客户已收到 10086 短信提醒" in r.text
    with p.uow() as ctx:
        expected = vault.cdrs(ctx, ALICE, TODAY - timedelta(days=6), TODAY)
    assert expected and all(row["cell_id"] in r.text for row in expected)
    assert r.text.count("<tr>") == len(expected) + 1
    # the subscriber's phone got the 10086 notice: unit and role, no name
    notice = [t for t in delivered(p, ALICE) if "通话详单" in t]
    assert notice and "长沙10086客服中心客服坐席" in notice[-1] and "王坐席" not in notice[-1]

    # a second use is refused, clearly, and written down
    again = post(agent, "/vault", f"/vault/requests/{rid}/use")
    assert again.status_code == 409 and "该审批已使用过" in again.text and 'id="cdr-table"' not in again.text
    with p.uow() as ctx:
        refused = ctx.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "vault.use", AuditEntry.outcome == "denied")
        ).all()
    assert len(refused) == 1
    assert "已使用" in agent.get("/vault").text


def test_denial_carries_its_reason_and_nothing_can_be_used(app, records: Platform) -> None:
    p = records
    hall, security = sign_in(app, "hall"), sign_in(app, "security")
    ask(hall, "location")
    rid = last_request(p)
    r = post(security, "/security/vault", f"/security/vault/{rid}/deny", reason="x")
    assert r.status_code == 422 and "4–200" in r.text  # a reason is required
    r = post(security, "/security/vault", f"/security/vault/{rid}/deny", reason="事由不充分,请补充工单号")
    assert r.status_code == 303
    mine = hall.get("/vault").text
    assert "已拒绝" in mine and "事由不充分,请补充工单号" in mine and "/use" not in mine
    r = post(hall, "/vault", f"/vault/requests/{rid}/use")
    assert r.status_code == 409 and "已被拒绝" in r.text
    # deciding twice: refused
    r = post(security, "/security/vault", f"/security/vault/{rid}/approve")
    assert r.status_code == 409


def test_another_requester_cannot_use_an_approval(app, records: Platform) -> None:
    p = records
    agent, hall, security = sign_in(app, "agent"), sign_in(app, "hall"), sign_in(app, "security")
    ask(agent, "identity")
    rid = last_request(p)
    post(security, "/security/vault", f"/security/vault/{rid}/approve")
    assert f'id="vreq-{rid}"' not in hall.get("/vault").text
    r = post(hall, "/vault", f"/vault/requests/{rid}/use")
    assert r.status_code == 403 and "只有申请人本人" in r.text
    r = post(agent, "/vault", f"/vault/requests/{rid}/use")
    assert r.status_code == 200 and "张三" in r.text and "430102199001011234" in r.text and ALICE in r.text
    assert "实名资料" in r.text or "身份" in r.text


def test_no_approve_button_on_ones_own_request_and_the_service_refuses(app, records: Platform) -> None:
    """An API key labelled for the approver asks (as an agent): the approver's queue leaves it out,
    and approving it by hand is refused."""
    p = records
    security = sign_in(app, "security")
    with p.uow() as ctx:
        as_them = vault.Staff("staff:security", "agent", "key", "湖南信息安全管理部", "13600000001")
        own = vault.request_access(ctx, as_them, operation="identity", reason=REASON, msisdn=BOB).id
    queue = security.get("/security/vault").text
    assert f"/security/vault/{own}/approve" not in queue
    r = post(security, "/security/vault", f"/security/vault/{own}/approve")
    assert r.status_code == 403 and "不能审批自己的申请" in r.text
    # the second approver sees it and may approve
    other = sign_in(app, "security2")
    assert f"/security/vault/{own}/approve" in other.get("/security/vault").text


def test_identity_change_is_written_only_when_used(app, records: Platform) -> None:
    p = records
    agent, security = sign_in(app, "agent"), sign_in(app, "security")
    r = ask(agent, "identity_change", name="张三丰", id_type="id_card", id_number="430102199001011235")
    assert r.status_code == 303
    rid = last_request(p)
    queue = security.get("/security/vault").text
    assert "张**" in queue and "张三丰" not in queue and "430102199001011235" not in queue
    post(security, "/security/vault", f"/security/vault/{rid}/approve")
    page = agent.get(f"/agent/subscribers/{ALICE}").text
    assert "张*" in page and "张三" not in page.replace("张三丰", "")  # still the old, masked
    r = post(agent, "/vault", f"/vault/requests/{rid}/use")
    assert r.status_code == 200 and "张三丰" in r.text
    assert "张**" in agent.get(f"/agent/subscribers/{ALICE}").text  # the new name, masked again


def test_bad_requests_say_why(app, records: Platform) -> None:
    agent = sign_in(app, "agent")
    r = ask(agent, reason="短")
    assert r.status_code == 422 and "4–200" in r.text
    r = ask(agent, date_from="2026-04-01", date_to="2026-04-20")
    assert r.status_code == 422 and "不能晚于今天" in r.text
    r = ask(agent, "export")
    assert r.status_code == 422


def test_break_glass_is_flagged_red_alerts_security_and_waits_for_review(app, records: Platform) -> None:
    p = records
    supervisor, security = sign_in(app, "supervisor"), sign_in(app, "security")
    page = supervisor.get(f"/agent/subscribers/{ALICE}").text
    assert 'class="break-glass"' in page and 'class="glass"' in page
    r = post(
        supervisor,
        f"/agent/subscribers/{ALICE}",
        f"/agent/subscribers/{ALICE}/break-glass",
        operation="location",
        reason="用户失联,家属报警求助",
        date_from=TODAY.isoformat(),
        date_to=TODAY.isoformat(),
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert "glass-flag" in r.text and 'id="location-table"' in r.text
    rid = last_request(p)
    assert any("紧急访问" in t for t in delivered(p, "13600000001"))
    assert any("位置信息" in t for t in delivered(p, ALICE))
    queue = security.get("/security/vault").text
    assert f'id="vrev-{rid}"' in queue and "用户失联" in queue
    assert security.get("/security/vault/count").text.strip().endswith("1")
    r = post(security, "/security/vault", f"/security/vault/{rid}/review", outcome="accepted", note="核实为紧急求助")
    assert r.status_code == 303
    assert f'id="vrev-{rid}"' not in security.get("/security/vault").text
    # an agent has no break-glass (not in MINGBAI_VAULT_BREAK_GLASS_ROLES)
    agent = sign_in(app, "agent")
    r = post(
        agent, f"/agent/subscribers/{ALICE}", f"/agent/subscribers/{ALICE}/break-glass", operation="cdr", reason=REASON
    )
    assert r.status_code == 403 and "不能紧急访问" in r.text


def test_an_export_needs_two_approvers_and_downloads_once(app, records: Platform) -> None:
    p = records
    operator = sign_in(app, "operator")
    form = operator.get("/ops/exports").text
    assert 'action="/ops/exports"' in form
    r = post(operator, "/ops/exports", "/ops/exports", of="subscribers", status="active", reason="季度经营分析报表")
    assert r.status_code == 303
    rid = last_request(p)
    for approver in ("security", "security2"):
        c = sign_in(app, approver)
        assert post(c, "/security/vault", f"/security/vault/{rid}/approve").status_code == 303
    r = post(operator, "/vault", f"/vault/requests/{rid}/use")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="mingbai-export-{rid}.csv"'
    assert r.headers["cache-control"] == "no-store"
    lines = r.content.decode("utf-8-sig").splitlines()
    with p.uow() as ctx:
        active = ctx.session.scalars(select(Subscriber.msisdn).where(Subscriber.status == "active")).all()
    assert lines[0].startswith("msisdn,") and len(lines) == len(active) + 1
    assert post(operator, "/vault", f"/vault/requests/{rid}/use").status_code == 409


def test_the_subscriber_sees_who_looked_unit_and_role_not_the_name(app, records: Platform) -> None:
    p = records
    agent, security = sign_in(app, "agent"), sign_in(app, "security")
    ask(agent)
    rid = last_request(p)
    post(security, "/security/vault", f"/security/vault/{rid}/approve")
    post(agent, "/vault", f"/vault/requests/{rid}/use")
    me = sign_in_subscriber(app, p, ALICE)
    page = me.get("/me/access").text
    assert "通话详单" in page and "长沙10086客服中心" in page and REASON in page and "10086 坐席" in page
    assert "王坐席" not in page and "staff:agent" not in page
    bob = sign_in_subscriber(app, p, BOB)
    assert "没有工作人员查看过" in bob.get("/me/access").text
    assert "/me/access" in me.get("/me").text  # in the portal's nav


def test_english_pages(app, records: Platform) -> None:
    agent = sign_in(app, "agent")
    agent.cookies.set("mb_lang", "en")
    ask(agent)
    page = agent.get("/vault").text
    assert "My vault requests" in page and "Waiting for approval" in page


# -- masked everywhere -------------------------------------------------------------------------------


def _numbers(html: str) -> set[str]:
    # links and form targets name the subscriber a page is about (/agent/subscribers/<number>);
    # what is shown, and every other attribute, must not
    shown = re.sub(r'(?:href|action|hx-get|hx-post)="[^"]*"', "", html)
    return set(re.findall(r"(?<!\d)1[3-9]\d{9}(?!\d)", shown))


def test_no_page_shows_a_subscribers_number_name_or_id_unmasked(app, world, records: Platform) -> None:  # noqa: F811
    """Every console page, for every role that may open it: no subscriber's full number other
    than the one the page is about (typed in by the agent, or the subscriber's own), no name, no
    ID number. Pending vault requests exist, so the vault lists are not empty."""
    p = records
    from mingbai.accounts.demo import DEMO_PROFILES

    with p.uow() as ctx:
        subscribers = set(ctx.session.scalars(select(Subscriber.msisdn)))
        vault.request_access(
            ctx,
            vault.staff_by_username(ctx, "agent"),
            operation="identity_change",
            reason=REASON,
            msisdn=BOB,
            identity={"name": "李四光", "id_type": "id_card", "id_number": "430203198512125679"},
        )
        vault.request_access(
            ctx,
            vault.staff_by_username(ctx, "agent"),
            operation="cdr",
            reason=REASON,
            msisdn=BOB,
            date_from=TODAY,
            date_to=TODAY,
        )
    secrets = [n for _, n, _, _ in DEMO_PROFILES] + [i for _, _, _, i in DEMO_PROFILES] + ["李四光"]
    seen = 0
    for role, session in world["sessions"].items():
        c = TestClient(app, base_url="http://testserver")
        c.cookies.set("mb_session", session)
        for (method, path), allowed in CONSOLE_ROUTES.items():
            if method != "GET" or allowed is None or role not in allowed or path.startswith(("/handset", "/login")):
                continue
            url = _url(path, world)
            r = c.get(url)
            if r.status_code != 200:
                continue
            seen += 1
            about = {ALICE} if "{msisdn}" in path or path.startswith("/me") else set()
            shown = (_numbers(r.text) & subscribers) - about
            assert not shown, f"{role.value} {url} shows {shown}"
            # and no link, form or htmx address on any page carries a full number, not even the
            # page's own subscriber's: links name a subscriber by an opaque reference
            addresses = " ".join(re.findall(r'(?:href|action|src|hx-[a-z]+)="([^"]*)"', r.text))
            assert not _numbers(addresses) & subscribers, f"{role.value} {url} links with a full number"
            for secret in secrets:
                assert secret not in r.text, f"{role.value} {url} shows {secret}"
    assert seen > 30
    assert USERS  # the matrix's users signed in above
