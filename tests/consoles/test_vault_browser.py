"""The vault (金库模式, R13) end to end in a real browser (Debian's /usr/bin/chromium): an agent asks
for a subscriber's CDRs in one browser context, a security approver approves from another (the
agent's page turns "approved" without a reload), the agent sees the CDRs once, the subscriber's
handset gets the 10086 notice, and a second use is refused. Screenshots in test-output/consoles/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mingbai.accounts.demo import seed_demo_accounts
from mingbai.clock import FixedClock
from mingbai.config import Settings
from mingbai.db import Database, make_engine
from mingbai.demo import seed_demo
from mingbai.migrate import upgrade
from mingbai.platform import Platform
from mingbai.sealing import new_key_line
from mingbai.vault.models import VaultRequest
from tests.conftest import DEFAULT_NOW
from tests.consoles.test_browser import SHOTS, Page, _staff_sign_in, browser  # noqa: F401
from tests.helpers import ALICE, serving

pytestmark = pytest.mark.browser

REASON = "客户来电投诉上周话费异常,核对通话详单"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('vault-browser') / 'mingbai.db'}"
    upgrade(url)
    settings = Settings(database_url=url, code_secret="browser", demo=True, secret_keys=(new_key_line("v1"),))
    platform = Platform(settings, clock=FixedClock(DEFAULT_NOW), database=Database(make_engine(url)))
    with platform.uow() as ctx:
        seed_demo(ctx)  # the catalog, subscribers, and two weeks of CDRs and locations
        seed_demo_accounts(ctx)  # staff with phones: the approvers' codes reach the handset page
    with serving(platform) as base:
        yield {"base": base, "platform": platform}
    platform.db.engine.dispose()


def _until(check: Any, seconds: float = 10) -> None:
    """Wait for what the page shows (no page-side function: the CSP forbids eval)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the page did not change in time"
        time.sleep(0.2)


def _handset(p: Page, msisdn: str) -> tuple[Any, str]:
    page = p.context.new_page()
    page.goto(p.base + f"/handset?msisdn={msisdn}")
    return page, "\n".join(page.locator(".bubbles li.mt").all_inner_texts())


def test_agent_asks_security_approves_in_another_browser_agent_sees_cdrs_once(server, browser):  # noqa: F811
    platform: Platform = server["platform"]
    agent = Page(browser, server["base"])
    security = Page(browser, server["base"])
    try:
        _staff_sign_in(agent, "agent")
        _staff_sign_in(security, "security")
        # the approver's first page is the vault queue; nothing waits yet
        assert security.page.url.endswith("/security/vault")
        assert "没有待审批的申请" in security.page.inner_text("#vault-queue")

        # the agent asks on the subscriber's page: one operation, a date range, a reason
        agent.goto(f"/agent/subscribers/{ALICE}")
        assert "138****8000" in agent.page.inner_text("main") and ALICE not in agent.page.inner_text("main")
        agent.page.get_by_text("申请查看敏感信息").click()
        form = agent.page.locator("form.vault-ask").filter(has=agent.page.locator("input[value=cdr]"))
        form.get_by_label("事由").fill(REASON)
        agent.shot("vault-agent-ask")
        with agent.page.expect_navigation():
            form.get_by_role("button").click()
        assert agent.page.url.endswith("/vault?done=vault_requested")
        with platform.uow() as ctx:
            rid = ctx.session.scalar(select(VaultRequest.id).order_by(VaultRequest.id.desc()).limit(1))
        row = agent.page.locator(f"#vreq-{rid}")
        assert row.get_attribute("data-status") == "pending" and "待审批" in row.inner_text()
        assert row.locator("button").count() == 0
        agent.shot("vault-agent-pending")
        # a second tab of the agent's, left open on the list
        stale = agent.context.new_page()
        stale.on("response", lambda r: agent.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        stale.goto(server["base"] + "/vault")

        # the approver's page shows it without a reload: the nav badge and the queue poll
        security.page.wait_for_selector(f"#vreq-{rid}", timeout=10_000)
        _until(lambda: security.page.inner_text("#badge-security-vault").strip().endswith("1"))
        card = security.page.locator(f"#vreq-{rid}")
        assert REASON in card.inner_text() and "138****8000" in card.inner_text()
        security.shot("vault-security-queue")
        # the code SMS reached the approver's phone too (they could reply to it instead)
        phone, texts = _handset(security, "13600000001")
        assert f"申请编号{rid}" in texts
        phone.close()
        with security.page.expect_navigation():
            card.get_by_role("button", name=f"批准 #{rid}").click()
        assert "已批准" in security.page.inner_text("main")
        assert f"#vreq-{rid}" not in security.page.content()

        # the agent's list turns "approved" by itself, with a use button: no reload
        agent.page.wait_for_selector(f"#vreq-{rid}[data-status=approved]", timeout=10_000)
        stale.wait_for_selector(f"#vreq-{rid}[data-status=approved]", timeout=10_000)
        # …and then falls behind (its polls answered "nothing new"): it keeps the stale button
        stale.route("**/vault/rows*", lambda route: route.fulfill(status=204))
        agent.shot("vault-agent-approved")
        with agent.page.expect_navigation():
            agent.page.locator(f"#vreq-{rid} button").click()
        table = agent.page.locator("#cdr-table tbody tr")
        assert table.count() > 3
        assert "客户已收到 10086 短信提醒" in agent.page.inner_text("main")
        agent.shot("vault-agent-cdrs-once")

        # the subscriber's handset got the 10086 notice: unit and role, when, why, no name
        phone, texts = _handset(agent, ALICE)
        assert "您的通话详单" in texts and "长沙10086客服中心客服坐席" in texts and "王坐席" not in texts
        phone.screenshot(path=str(SHOTS / "vault-handset-notice.png"), full_page=True)
        phone.close()

        # a second use (the stale tab's button) is refused, clearly
        with stale.expect_navigation():
            stale.locator(f"#vreq-{rid} button").click()
        assert "该审批已使用过" in stale.inner_text("main") and not stale.locator("#cdr-table").count()
        stale.screenshot(path=str(SHOTS / "vault-agent-second-use-refused.png"), full_page=True)
        agent.errors = [e for e in agent.errors if not (e.startswith("409 ") and e.endswith(f"/{rid}/use"))]
        stale.close()
        # going back to the list: used, no button
        agent.goto("/vault")
        assert agent.page.locator(f"#vreq-{rid}").get_attribute("data-status") == "used"
        assert agent.page.locator(f"#vreq-{rid} button").count() == 0
    finally:
        agent.close()
        security.close()


def test_supervisor_breaks_the_glass_and_security_reviews(server, browser):  # noqa: F811
    supervisor = Page(browser, server["base"])
    security = Page(browser, server["base"])
    try:
        _staff_sign_in(security, "security")
        _staff_sign_in(supervisor, "supervisor")
        supervisor.goto(f"/agent/subscribers/{ALICE}")
        supervisor.page.get_by_text("紧急访问(破窗)").click()
        glass = supervisor.page.locator("details.break-glass form")
        glass.get_by_label("操作").select_option("identity")
        glass.get_by_label("事由").fill("客户家属报警称失联,紧急核实身份")
        supervisor.shot("vault-break-glass-form")
        with supervisor.page.expect_navigation():
            glass.get_by_role("button", name="紧急访问").click()
        assert supervisor.page.locator(".glass-flag").count() == 1
        assert "张三" in supervisor.page.inner_text("#identity")
        supervisor.shot("vault-break-glass-result")
        # security's queue shows the flagged access for review, without a reload
        security.page.wait_for_selector(".glass-row", timeout=10_000)
        security.shot("vault-security-review")
        review = security.page.locator(".glass-row").first
        review.get_by_label("复核意见").fill("已电话核实,确属紧急求助")
        with security.page.expect_navigation():
            review.get_by_role("button", name="复核通过").click()
        assert "已复核" in security.page.inner_text("main")
    finally:
        supervisor.close()
        security.close()
