"""Sign-in, sessions, rate limiting, CSRF, cookies and headers (each test on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from mingbai.accounts.models import SignInAttempt, StaffUser
from mingbai.accounts.service import set_user_status
from tests.consoles.conftest import csrf_of, sign_in, sign_in_subscriber, sms_code
from tests.helpers import ALICE


def _try(app, username: str, password: str) -> int:  # type: ignore[no-untyped-def]
    c = TestClient(app)
    page = c.get("/login")
    r = c.post(
        "/login/staff",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    return r.status_code


def test_staff_password_sign_in_sets_a_hardened_session_cookie(app):
    c = TestClient(app)
    page = c.get("/login")
    r = c.post(
        "/login/staff",
        data={"username": "agent", "password": "mingbai-agent", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/agent"
    cookie = r.headers["set-cookie"]
    assert "mb_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http in the test; https adds it (next test)
    assert c.get("/agent").status_code == 200


def test_cookies_are_secure_over_https(app):
    c = TestClient(app, base_url="https://testserver")
    page = c.get("/login")
    assert "Secure" in page.headers["set-cookie"]
    assert page.headers["strict-transport-security"].startswith("max-age=")
    r = c.post(
        "/login/staff",
        data={"username": "agent", "password": "mingbai-agent", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_cookies_carry_the_host_prefix_over_https(app):
    c = TestClient(app, base_url="https://testserver")
    page = c.get("/login")
    csrf_cookie = page.headers["set-cookie"]
    assert csrf_cookie.startswith("__Host-mb_csrf=")
    assert "Secure" in csrf_cookie and "Path=/" in csrf_cookie and "Domain" not in csrf_cookie
    r = c.post(
        "/login/staff",
        data={"username": "agent", "password": "mingbai-agent", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    session = r.headers["set-cookie"]
    assert session.startswith("__Host-mb_session=")
    assert "Secure" in session and "Path=/" in session and "Domain" not in session
    assert c.get("/agent").status_code == 200  # the prefixed cookie is the one read back
    token = c.cookies.get("__Host-mb_session")
    # over https an unprefixed cookie (one a sibling host could plant) is not a session
    planted = TestClient(app, base_url="https://testserver", cookies={"mb_session": token})
    assert planted.get("/agent", follow_redirects=False).status_code in (303, 401)
    # sign-out clears the prefixed cookie
    out = c.post("/logout", headers={"X-CSRF-Token": csrf_of(c.get("/agent").text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["set-cookie"].startswith("__Host-mb_session=")


def test_cookies_have_no_prefix_over_plain_http(app):
    c = TestClient(app, base_url="http://testserver")
    page = c.get("/login")
    assert page.headers["set-cookie"].startswith("mb_csrf=") and "Secure" not in page.headers["set-cookie"]


def test_secure_cookies_setting_overrides_the_scheme(app, platform, monkeypatch):
    from dataclasses import replace

    monkeypatch.setattr(platform, "settings", replace(platform.settings, secure_cookies="always"))
    page = TestClient(app, base_url="http://testserver").get("/login")
    assert page.headers["set-cookie"].startswith("__Host-mb_csrf=") and "Secure" in page.headers["set-cookie"]
    monkeypatch.setattr(platform, "settings", replace(platform.settings, secure_cookies="never"))
    page = TestClient(app, base_url="https://testserver").get("/login")
    assert page.headers["set-cookie"].startswith("mb_csrf=") and "Secure" not in page.headers["set-cookie"]


def test_secure_cookies_setting_is_checked():
    import pytest

    from mingbai.config import Settings

    with pytest.raises(ValueError, match="MINGBAI_SECURE_COOKIES"):
        Settings(secure_cookies="sometimes")


def test_wrong_password_is_refused_logged_masked_and_rate_limited(app, platform, caplog):
    caplog.set_level(logging.WARNING, logger="mingbai.accounts.service")
    for _ in range(5):
        assert _try(app, "agent", "wrong-password-123") == 401
    # the sixth try is refused even with the right password: the account is locked for a while
    assert _try(app, "agent", "mingbai-agent") == 429
    with platform.uow() as ctx:
        rows = list(ctx.session.scalars(select(SignInAttempt).where(SignInAttempt.subject == "agent")))
    assert [r.reason for r in rows].count("bad_credentials") == 5 and rows[-1].reason in ("locked", "bad_credentials")
    assert any(r.reason == "locked" for r in rows)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sign-in refused" in logged and "ag***" in logged
    assert "wrong-password" not in logged and "mingbai-agent" not in logged


def test_lockout_ends_after_the_window(app, clock):
    for _ in range(5):
        _try(app, "hall", "not-the-password")
    assert _try(app, "hall", "mingbai-hall") == 429
    clock.advance(timedelta(minutes=16))
    assert _try(app, "hall", "mingbai-hall") == 303


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(app):
    assert _try(app, "nobody", "whatever-pass-1") == 401
    assert _try(app, "agent", "whatever-pass-1") == 401


def test_subscriber_signs_in_with_an_sms_code(app, platform):
    c = sign_in_subscriber(app, platform, ALICE)
    page = c.get("/me")
    assert page.status_code == 200 and "138****8000" in page.text
    assert ALICE not in page.text  # the number is masked even on the owner's own page


def test_sms_code_is_single_use_and_limited(app, platform):
    c = TestClient(app)
    r = c.post("/login/sms/request", data={"msisdn": ALICE, "csrf_token": csrf_of(c.get("/login").text)})
    code = sms_code(platform, ALICE)
    wrong = "000000" if code != "000000" else "111111"
    token = csrf_of(r.text)
    for _ in range(5):
        r = c.post("/login/sms/verify", data={"msisdn": ALICE, "code": wrong, "csrf_token": token})
        assert r.status_code == 401
    # five wrong codes burn the code: the right one no longer works
    r = c.post("/login/sms/verify", data={"msisdn": ALICE, "code": code, "csrf_token": token}, follow_redirects=False)
    assert r.status_code in (401, 429)


def test_sms_code_expires(app, platform, clock):
    c = TestClient(app)
    r = c.post("/login/sms/request", data={"msisdn": ALICE, "csrf_token": csrf_of(c.get("/login").text)})
    code = sms_code(platform, ALICE)
    clock.advance(timedelta(minutes=5, seconds=1))
    r = c.post("/login/sms/verify", data={"msisdn": ALICE, "code": code, "csrf_token": csrf_of(r.text)})
    assert r.status_code == 401 and "验证码无效或已过期" in r.text


def test_code_request_does_not_reveal_whether_a_number_is_a_subscriber(app, gateway):
    c = TestClient(app)
    token = csrf_of(c.get("/login").text)
    known = c.post("/login/sms/request", data={"msisdn": ALICE, "csrf_token": token})
    unknown = c.post("/login/sms/request", data={"msisdn": "13512345678", "csrf_token": token})
    assert known.status_code == unknown.status_code == 200
    assert "验证码已发送" in known.text and "验证码已发送" in unknown.text
    assert [d.recipient for d in gateway.delivered] == [ALICE]


def test_code_requests_are_throttled(app, platform, gateway, clock):
    c = TestClient(app)
    token = csrf_of(c.get("/login").text)
    c.post("/login/sms/request", data={"msisdn": ALICE, "csrf_token": token})
    c.post("/login/sms/request", data={"msisdn": ALICE, "csrf_token": token})  # within a minute: no SMS
    assert len(gateway.delivered) == 1
    for _ in range(6):
        clock.advance(timedelta(minutes=2))
        c.post("/login/sms/request", data={"msisdn": ALICE, "csrf_token": token})
    assert len(gateway.delivered) == 5  # at most five an hour


def test_sessions_expire_when_idle(app, clock):
    c = sign_in(app, "agent")
    clock.advance(timedelta(minutes=29))
    assert c.get("/agent").status_code == 200  # use keeps it alive
    clock.advance(timedelta(minutes=29))
    assert c.get("/agent").status_code == 200
    clock.advance(timedelta(minutes=31))
    r = c.get("/agent", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/agent"


def test_sessions_end_after_ten_hours_however_busy(app, clock):
    c = sign_in(app, "agent")
    for _ in range(20):  # 9 h 40 min of steady use
        clock.advance(timedelta(minutes=29))
        assert c.get("/agent").status_code == 200
    clock.advance(timedelta(minutes=21))
    assert c.get("/agent", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_on_the_server(app):
    c = sign_in(app, "agent")
    token = c.cookies.get("mb_session")
    r = c.post("/logout", data={"csrf_token": csrf_of(c.get("/agent").text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    replay = TestClient(app, cookies={"mb_session": token})
    assert replay.get("/agent", follow_redirects=False).status_code == 303  # a stolen cookie is dead too


def test_disabling_a_user_ends_their_sessions(app, platform):
    c = sign_in(app, "agent")
    with platform.uow() as ctx:
        set_user_status(ctx, username="agent", status="disabled")
    assert c.get("/agent", follow_redirects=False).status_code == 303
    assert _try(app, "agent", "mingbai-agent") == 401


def test_forms_without_a_valid_csrf_token_are_refused(app):
    c = sign_in(app, "agent")
    url = f"/agent/subscribers/{ALICE}/unsubscribe"
    assert c.post(url, data={"all": "true"}).status_code == 403
    assert c.post(url, data={"all": "true", "csrf_token": "x.y"}).status_code == 403
    # a token from another session (e.g. the attacker's own) does not fit this one
    other = sign_in(app, "hall")
    foreign = csrf_of(other.get("/agent").text)
    assert c.post(url, data={"all": "true", "csrf_token": foreign}).status_code == 403
    # the right token in the htmx header works
    token = csrf_of(c.get("/agent").text)
    assert c.post(url, data={"all": "true"}, headers={"X-CSRF-Token": token}, follow_redirects=False).status_code == 303


def test_cross_origin_posts_are_refused_even_with_a_token(app):
    c = sign_in(app, "agent")
    token = csrf_of(c.get("/agent").text)
    r = c.post(
        f"/agent/subscribers/{ALICE}/unsubscribe",
        data={"all": "true", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403


def test_sign_in_form_itself_needs_the_token(app):
    c = TestClient(app)
    r = c.post("/login/staff", data={"username": "agent", "password": "mingbai-agent"}, follow_redirects=False)
    assert r.status_code == 403


def test_security_headers_and_no_store(client):
    for path in ("/login", "/handset", "/api/v1/services"):
        r = client.get(path)
        h = r.headers
        assert h["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "script-src 'self'" in h["content-security-policy"]
        assert h["referrer-policy"] == "no-referrer"
        assert h["cache-control"] == "no-store"
    assert "no-store" not in client.get("/static/consoles/console.css").headers.get("cache-control", "")


def test_next_parameter_cannot_redirect_off_site(app):
    c = TestClient(app)
    page = c.get("/login?next=//evil.example/x")
    r = c.post(
        "/login/staff",
        data={
            "username": "agent",
            "password": "mingbai-agent",
            "next": "//evil.example/x",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/agent"


def test_passwords_are_stored_as_argon2_hashes(platform, app):
    with platform.uow() as ctx:
        user = ctx.session.scalar(select(StaffUser).where(StaffUser.username == "agent"))
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert "mingbai-agent" not in user.password_hash


def test_tick_purges_dead_sessions_and_spent_codes_but_keeps_the_log(app, platform, clock):
    from mingbai.accounts.models import LoginCode, WebSession

    live = sign_in(app, "agent")
    sign_in_subscriber(app, platform, ALICE)
    gone = sign_in(app, "hall")
    gone.post("/logout", data={"csrf_token": csrf_of(gone.get("/agent").text)})
    assert platform.tick().extra["console_sessions_purged"] == 0  # nothing is a day old yet
    clock.advance(timedelta(hours=25))
    live.get("/agent")  # expired by now (idle), so this ends it
    assert platform.tick().extra["console_sessions_purged"] == 4  # 3 sessions and the used code
    with platform.uow() as ctx:
        assert ctx.session.scalars(select(WebSession)).all() == []
        assert ctx.session.scalars(select(LoginCode)).all() == []
        assert len(ctx.session.scalars(select(SignInAttempt)).all()) == 4  # the log stays
    assert platform.tick().extra["console_sessions_purged"] == 0


def test_guessing_cannot_keep_the_real_user_out(platform, clock):
    """Lock-out as a weapon (issue 12): five wrong tries, then one whenever the back-off ends,
    hold only the guesser's own address; the user signs in from theirs all along."""
    from mingbai.accounts.demo import seed_demo_accounts
    from mingbai.accounts.service import sign_in_password

    def attempt(password: str, address: str) -> str:
        with platform.uow() as ctx:
            return sign_in_password(ctx, username="agent", password=password, address=address).reason

    with platform.uow() as ctx:
        seed_demo_accounts(ctx)
    waits = []
    for _ in range(5):
        assert attempt("wrong-password-1", "203.0.113.66") == "bad_credentials"
    for _ in range(4):
        assert attempt("wrong-password-1", "203.0.113.66") == "locked"  # not checked, not counted
        while attempt("wrong-password-1", "203.0.113.66") == "locked":
            clock.advance(timedelta(minutes=1))  # the guesser waits out the back-off, then guesses
        waits.append(clock.now())
        assert attempt("mingbai-agent", "198.51.100.7") == "ok"
    assert attempt("mingbai-agent", "198.51.100.7") == "ok"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(waits)]
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0]  # each wrong guess makes the next wait longer
