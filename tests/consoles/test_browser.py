"""The consoles in a real browser: Playwright drives Debian's /usr/bin/chromium (never a
downloaded browser) against uvicorn on a free 127.0.0.1 port with a SQLite file.

Screenshots of every page land in test-output/consoles/ for a reviewer to look at. Each page
is also checked for console errors (a Content-Security-Policy violation shows up there) and,
on phone-sized pages, for horizontal overflow at 360 px.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mingbai.accounts.demo import seed_demo_accounts
from mingbai.clock import SHANGHAI, FixedClock
from mingbai.config import Settings
from mingbai.db import Database, make_engine
from mingbai.demo import seed_demo
from mingbai.migrate import upgrade
from mingbai.platform import Platform
from mingbai.sealing import new_key_line
from mingbai.subscriptions.service import list_subscriptions, place_order
from tests.conftest import DEFAULT_NOW
from tests.helpers import ALICE, BOB, serving, subscribe

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "consoles"
CAROL = "13700137000"

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs /usr/bin/chromium for the browser tests (scripts/bootstrap installs it)")
    pytest.skip("no /usr/bin/chromium (scripts/bootstrap installs it with apt-get)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def _history(platform: Platform, clock: FixedClock) -> None:
    """Two weeks of orders, confirmations, queries and unsubscriptions for the dashboard."""
    clock.set(DEFAULT_NOW - timedelta(days=6))
    for day in range(7):
        for n, (msisdn, service) in enumerate(
            [(BOB, "SINA-WEATHER"), (CAROL, "QQ-TONES"), ("15800158000", "SOHU-MMS"), ("18800188000", "SINA-NEWS")]
        ):
            with platform.uow() as ctx:
                busy = any(s.service_code == service for s in list_subscriptions(ctx, msisdn=msisdn, active_only=True))
            if busy:
                platform.receive_sms(msisdn, "10086", "0000")
                if (day + n) % 2:
                    platform.receive_sms(msisdn, "10086", "00000")
            elif (day + n) % 3 == 0:
                subscribe(platform, msisdn, service)
            elif (day + n) % 3 == 1:
                with platform.uow() as ctx:
                    place_order(ctx, msisdn=msisdn, service_code=service, channel="sp", actor="seed")
                platform.deliver(msisdn=msisdn)
        clock.advance(timedelta(days=1))
        platform.tick()  # unconfirmed orders expire
    clock.set(DEFAULT_NOW)
    subscribe(platform, ALICE, "SINA-NEWS")
    subscribe(platform, ALICE, "QQ-TONES")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'mingbai.db'}"
    upgrade(url)
    clock = FixedClock(DEFAULT_NOW)
    # the demo: the handset page is served (the sign-in test reads its code there)
    settings = Settings(database_url=url, code_secret="browser", demo=True, secret_keys=(new_key_line("b1"),))
    platform = Platform(settings, clock=clock, database=Database(make_engine(url)))
    with platform.uow() as ctx:
        seed_demo(ctx)
        seed_demo_accounts(ctx)
    _history(platform, clock)
    with serving(platform) as base:
        yield {"base": base, "platform": platform}
    platform.db.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


class Page:
    """A browser tab that records console errors and saves screenshots by name."""

    def __init__(self, browser: Any, base: str, *, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        self.page = self.context.new_page()
        self.base = base
        self.width = width
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.page.on("dialog", lambda d: d.accept())  # hx-confirm: the user says yes

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def no_sideways_scroll(self) -> None:
        overflow = self.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= self.width, f"page is {overflow}px wide at a {self.width}px viewport"

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"browser console errors: {self.errors}"


def _staff_sign_in(p: Page, username: str) -> None:
    """Sign in with the keyboard only: labels, focus order and Enter must work."""
    p.goto("/login")
    p.page.get_by_label("用户名").focus()
    p.page.keyboard.type(username)
    p.page.keyboard.press("Tab")
    p.page.keyboard.type(f"mingbai-{username}")
    with p.page.expect_navigation():
        p.page.keyboard.press("Enter")
    assert "/login" not in p.page.url, p.page.inner_text("main")


def test_subscriber_signs_in_with_an_sms_code_and_unsubscribes(server, browser):
    p = Page(browser, server["base"], width=360, height=780)
    p.goto("/login")
    p.shot("login-360")
    p.no_sideways_scroll()
    p.page.get_by_label("手机号码").fill(ALICE)
    p.page.get_by_role("button", name="获取验证码").click()
    p.page.wait_for_selector("#code")
    # the code arrives by SMS: read it off the demo handset, as a demo user would
    handset = p.context.new_page()
    handset.goto(server["base"] + f"/handset?msisdn={ALICE}")
    texts = "\n".join(handset.locator(".bubbles li.mt").all_inner_texts())
    (code,) = re.findall(r"登录验证码(\d{6})", texts)
    handset.screenshot(path=str(SHOTS / "handset-login-code.png"), full_page=True)
    handset.close()
    p.page.get_by_label("短信验证码").fill(code)
    p.page.get_by_role("button", name="登录").first.click()
    p.page.wait_for_url("**/me")
    assert "头条新闻" in p.page.inner_text("#my-subs") and "免费至 2026-04-30" in p.page.inner_text("#my-subs")
    p.shot("subscriber-portal-360")
    p.no_sideways_scroll()
    p.page.get_by_role("button", name="退订 头条新闻").click()
    p.page.wait_for_selector("#my-subs .notice")
    active = p.page.inner_text("#my-subs article.sub")
    assert "头条新闻" not in active and "精品图铃" in active
    p.shot("subscriber-after-unsubscribe-360")
    with server["platform"].uow() as ctx:
        news = [s for s in list_subscriptions(ctx, msisdn=ALICE) if s.service_code == "SINA-NEWS"]
    assert news[-1].status == "unsubscribed" and news[-1].unsubscribe_channel == "web"
    # the confirmation SMS reached the handset
    handset = p.context.new_page()
    handset.goto(server["base"] + f"/handset?msisdn={ALICE}")
    assert "退订" in "\n".join(handset.locator(".bubbles li.mt").all_inner_texts())
    handset.close()
    p.close()


def test_agent_finds_a_subscriber_and_unsubscribes_one_service(server, browser):
    p = Page(browser, server["base"])
    _staff_sign_in(p, "agent")
    assert p.page.url.endswith("/agent")
    p.shot("agent-search")
    p.page.get_by_label("客户手机号码").fill(ALICE)
    with p.page.expect_navigation(url="**/agent/subscribers/**"):
        p.page.keyboard.press("Enter")
    body = p.page.inner_text("main")
    assert "138****8000" in body and ALICE not in body and "张*" in body and "4301**********1234" in body
    assert ALICE not in p.page.url  # posted, then named by a reference: not in the address bar
    p.shot("agent-subscriber")
    p.page.get_by_role("button", name="退订 精品图铃").click()
    p.page.wait_for_selector("#subs-panel .notice")
    assert "已退订" in p.page.inner_text("#subs-panel .notice")
    p.shot("agent-after-unsubscribe")
    with server["platform"].uow() as ctx:
        tones = [s for s in list_subscriptions(ctx, msisdn=ALICE) if s.service_code == "QQ-TONES"]
    assert tones[-1].status == "unsubscribed" and tones[-1].unsubscribe_channel == "hotline"
    p.width = 360  # a clerk's tablet in portrait, or a phone: still usable
    p.page.set_viewport_size({"width": 360, "height": 780})
    p.shot("agent-subscriber-360")
    p.no_sideways_scroll()
    p.close()


def test_sp_sees_only_its_own_orders(server, browser):
    p = Page(browser, server["base"])
    _staff_sign_in(p, "sina")
    assert p.page.url.endswith("/sp")
    rows = p.page.locator("#sp-order-table tbody tr").all_inner_texts()
    assert rows and all("SINA-" in r for r in rows), rows
    assert not any(re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", r) for r in rows)  # numbers masked (not ids)
    p.shot("sp-portal")
    with p.page.expect_navigation():
        p.page.get_by_role("link", name="English").click()
    assert p.page.locator("h1").first.inner_text().startswith("SP portal")
    p.shot("sp-portal-en")
    with p.page.expect_navigation():
        p.page.get_by_role("link", name="API keys").click()
    p.page.get_by_label("Label").fill("browser test")
    with p.page.expect_navigation():
        p.page.get_by_role("button", name="Create").click()
    assert p.page.locator("#new-key").input_value().startswith("mb_")
    p.shot("sp-keys-en")
    p.close()
    phone = Page(browser, server["base"], width=360, height=780)
    _staff_sign_in(phone, "tencent")
    rows = phone.page.locator("#sp-order-table tbody tr").all_inner_texts()
    assert rows and all("QQ-" in r for r in rows), rows
    phone.shot("sp-portal-tencent-360")
    phone.no_sideways_scroll()
    phone.close()


def test_dashboard_charts_render_with_data(server, browser):
    p = Page(browser, server["base"])
    _staff_sign_in(p, "operator")
    assert p.page.url.endswith("/ops")
    for chart in ("chart-daily", "chart-sp", "chart-rate", "chart-reminders"):
        p.page.wait_for_selector(f"#{chart}[data-rendered='true'] svg")
        # bars and lines are drawn as SVG paths; an empty chart has only its axes
        assert p.page.locator(f"#{chart} svg path").count() > 10, chart
    assert int(p.page.inner_text("#kpi-orders")) > 5
    assert p.page.locator("#sp-table tbody tr").count() == 3
    p.shot("ops-dashboard")
    with p.page.expect_navigation():
        p.page.get_by_role("link", name="业务目录").click()
    p.page.locator("summary[aria-label='暂停 SOHU-MMS']").click()  # asks why before it suspends
    p.page.locator("details[open] input[name=reason]").fill("投诉激增")
    with p.page.expect_navigation():
        p.page.get_by_role("button", name="确认暂停 SOHU-MMS").click()
    assert "业务已暂停受理" in p.page.inner_text("main")
    p.shot("ops-catalog")
    p.close()
    phone = Page(browser, server["base"], width=360, height=780)
    _staff_sign_in(phone, "supervisor")
    phone.goto("/ops")
    phone.page.wait_for_selector("#chart-daily[data-rendered='true'] svg")
    phone.shot("ops-dashboard-360")
    phone.no_sideways_scroll()
    phone.close()


def test_handset_page_still_works(server, browser):
    p = Page(browser, server["base"], width=360, height=780)
    p.goto(f"/handset?msisdn={BOB}")

    def newest_in_view() -> bool:
        thread = p.page.locator("#thread").bounding_box()
        newest = p.page.locator(".bubbles li").last.bounding_box()
        return bool(newest["y"] + newest["height"] <= thread["y"] + thread["height"] + 1)

    scroll = p.page.evaluate("[document.querySelector('#thread').scrollHeight, innerHeight]")
    assert scroll[0] > scroll[1] * 0.6, "the thread should be long enough to scroll"
    assert newest_in_view(), "the thread opens scrolled to the newest message"
    p.page.get_by_label("短信 Text").fill("你好明白")
    p.page.get_by_role("button", name="发送 Send").click()  # htmx post, with the CSRF header
    sync_api.expect(p.page.locator("#text")).to_have_value("")
    assert "你好明白" in "\n".join(p.page.locator(".bubbles li.mo").all_inner_texts())
    assert newest_in_view()
    with server["platform"].uow() as ctx:
        from mingbai.messaging.service import conversation

        assert any(m.text == "你好明白" and m.kind == "help" for m in conversation(ctx, BOB))
    p.shot("handset-360")
    p.close()


def test_api_docs_render_offline(server, browser):
    """Swagger UI renders with every request outside our origin refused (no CDN)."""
    p = Page(browser, server["base"])
    outside: list[str] = []

    def only_ours(route: Any) -> None:
        if route.request.url.startswith(server["base"]):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    p.context.route("**/*", only_ours)
    p.goto("/docs")
    p.page.wait_for_selector(".opblock", timeout=20_000)
    assert p.page.locator(".opblock").count() > 20
    assert not outside, outside
    p.shot("api-docs")
    p.close()


#: every console page, by who reads it; "{alice}" and "{sub}" are filled in from the data
PAGES_BY_ROLE: dict[str, list[str]] = {
    "agent": ["/agent", "/agent/subscribers/{alice}", "/vault"],
    "hall": ["/agent/subscribers/{alice}"],
    "supervisor": ["/agent", "/ops", "/ops/catalog"],
    "operator": ["/ops", "/ops/catalog", "/ops/exports", "/vault"],
    "security": ["/security/sign-ins", "/security/vault"],
    "auditor": ["/ops", "/ops/catalog", "/security/sign-ins"],
    "sina": ["/sp", "/sp/keys"],
    "subscriber": ["/me", "/me/subscriptions/{sub}", "/me/access"],
    "public": ["/login", "/docs"],
}
#: roles that must never see a subscriber's number in full (a subscriber sees their own)
MASKED_ROLES = {"agent", "hall", "supervisor", "operator", "security", "auditor", "sina"}
_FULL_NUMBER = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
#: an actor as stored ("subscriber:139…", "cli:operator", "sp:SINA"), never as shown
_RAW_ACTOR = re.compile(r"\b(?:subscriber|cli|api|sp|agent|hall|operator|reports|system|scheduler):\S")


def _raw_identifiers() -> set[str]:
    """Stored values that have a label: kinds of events and messages (snake_case), and in the
    Chinese pages the English channel names too."""
    from mingbai.consoles.i18n import MESSAGES

    values = {k.split(".", 1)[1] for k in MESSAGES if k.split(".", 1)[0] in ("event", "kind", "channel", "actor")}
    return {v for v in values if "_" in v}


def test_every_console_page_fits_360_and_1280_in_both_languages_and_shows_no_raw_values(server, browser):
    from mingbai.accounts.service import get_user, start_staff_session, start_subscriber_session
    from mingbai.consoles.i18n import MESSAGES

    platform = server["platform"]
    with platform.uow() as ctx:
        sub = next(s.id for s in list_subscriptions(ctx, msisdn=ALICE))
    snake = _raw_identifiers()
    zh_channels = {k.split(".", 1)[1] for k in MESSAGES if k.startswith("channel.")} - {
        "sp",
        "sms",
        "wap",
        "api",
        "cli",
    }
    seen: list[str] = []
    for role, paths in PAGES_BY_ROLE.items():
        with platform.uow() as ctx:
            if role == "subscriber":
                token = start_subscriber_session(ctx, ALICE)
            elif role != "public":
                token = start_staff_session(ctx, get_user(ctx, role))
        for lang in ("zh-CN", "en"):
            p = Page(browser, server["base"], width=1280)
            cookies = [{"name": "mb_lang", "value": lang, "url": server["base"]}]
            if role != "public":
                cookies.append({"name": "mb_session", "value": token, "url": server["base"]})
            p.context.add_cookies(cookies)
            for path in paths:
                url = path.format(alice=ALICE, sub=sub)
                p.page.set_viewport_size({"width": 1280, "height": 800})
                assert p.goto(url).status == 200, (role, url)
                for width in (1280, 360):  # the same page, reflowed: as a window is narrowed
                    p.width = width
                    p.page.set_viewport_size({"width": width, "height": 800})
                    p.page.wait_for_timeout(50)
                    where = f"{role} {lang} {width}px {url}"
                    wide = p.page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
                    assert wide[0] <= wide[1], f"{where}: {wide[0]}px wide in a {wide[1]}px window"
                    text = p.page.inner_text("body")
                    words = set(re.findall(r"[A-Za-z_]+", text))
                    assert not (words & snake), f"{where}: raw values {sorted(words & snake)}"
                    assert not _RAW_ACTOR.search(text), f"{where}: raw actor {_RAW_ACTOR.search(text)}"
                    if lang == "zh-CN" and url != "/docs":
                        assert not (words & zh_channels), f"{where}: untranslated {sorted(words & zh_channels)}"
                    if role in MASKED_ROLES:
                        assert not _FULL_NUMBER.search(text), f"{where}: unmasked {_FULL_NUMBER.search(text)}"
                    seen.append(where)
                p.shot(f"all-{role}-{lang}-{url.strip('/').replace('/', '_') or 'root'}")
            p.close()
    assert len(seen) == 4 * sum(len(v) for v in PAGES_BY_ROLE.values())
    # the bill (an API page for staff) at a phone's width too
    p = Page(browser, server["base"], width=360)
    p.context.set_extra_http_headers({"X-API-Key": "demo-agent"})
    period = DEFAULT_NOW.astimezone(SHANGHAI).strftime("%Y-%m")
    assert p.goto(f"/api/v1/subscribers/{ALICE}/bill.html?period={period}").status == 200
    assert p.page.evaluate("document.scrollingElement.scrollWidth") <= 360
    flag_height = p.page.evaluate(
        "(() => { const f = document.createElement('span'); f.className = 'flag'; f.textContent = '已提出异议';"
        " document.querySelector('td').appendChild(f); return f.getBoundingClientRect().height; })()"
    )
    assert flag_height < 30, "a flag is one line, not one character a line"
    p.shot("bill-360")
    p.close()
