"""The SMS sign-in code request (issue 12): rate-limited per number and per address, and the
same work, statement for statement, whether or not the number is a subscriber."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import event, select

from mingbai.accounts.models import LoginCode
from mingbai.accounts.service import request_login_code
from tests.consoles.conftest import csrf_of
from tests.helpers import ALICE

STRANGER = "13512345678"  # a well-formed number that is no subscriber of ours


def _ask(c: TestClient, token: str, msisdn: str):  # type: ignore[no-untyped-def]
    return c.post("/login/sms/request", data={"msisdn": msisdn, "csrf_token": token})


def test_code_requests_are_limited_per_number(app, platform, monkeypatch):
    monkeypatch.setattr(platform, "settings", replace(platform.settings, login_codes_per_number_per_hour=3))
    c = TestClient(app)
    token = csrf_of(c.get("/login").text)
    for number in (ALICE, STRANGER):  # subscriber or not: the same limit, so it tells nothing
        assert [_ask(c, token, number).status_code for _ in range(3)] == [200, 200, 200]
        refused = _ask(c, token, number)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        assert "验证码请求过于频繁" in refused.text and "<form" in refused.text


def test_code_requests_are_limited_per_address(app, platform, clock, monkeypatch):
    monkeypatch.setattr(platform, "settings", replace(platform.settings, login_codes_per_address_per_hour=4))
    c = TestClient(app)
    token = csrf_of(c.get("/login").text)
    numbers = [f"1351234{n:04d}" for n in range(5)]
    assert [_ask(c, token, n).status_code for n in numbers] == [200, 200, 200, 200, 429]
    clock.advance(timedelta(hours=1))
    assert _ask(c, token, numbers[-1]).status_code == 200  # the window passed


def _statements(platform, msisdn: str, clock) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(re.sub(r"\s+", " ", statement))

    engine = platform.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with platform.uow() as ctx:
            request_login_code(ctx, msisdn=msisdn, address="203.0.113.9")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    clock.advance(timedelta(minutes=15))
    # the SMS itself is the one difference: for a non-subscriber there is nothing to send
    return [s for s in seen if "sms_outbox" not in s and "sms_part" not in s]


def test_a_subscriber_and_a_stranger_cost_the_same_statements(platform, clock):
    known = _statements(platform, ALICE, clock)
    stranger = _statements(platform, STRANGER, clock)
    assert known == stranger
    assert any("INSERT INTO login_code" in s for s in known) and any("UPDATE login_code" in s for s in known)
    with platform.uow() as ctx:
        (dead,) = ctx.session.scalars(select(LoginCode).where(LoginCode.msisdn == STRANGER))
        assert dead.expires_at <= dead.created_at  # expired at birth: can sign no one in


def test_the_answer_takes_as_long_for_a_subscriber_as_for_a_stranger(app, platform, clock, monkeypatch):
    monkeypatch.setattr(
        platform,
        "settings",
        replace(platform.settings, login_codes_per_number_per_hour=0, login_codes_per_address_per_hour=0),
    )
    c = TestClient(app)
    token = csrf_of(c.get("/login").text)
    # A real difference shows in every round; a load spike on a shared machine (other suites, a
    # browser) lands on one round and is gone in the next, so one close round of three answers.
    rounds = []
    for _ in range(3):
        times: dict[str, list[float]] = {ALICE: [], STRANGER: []}
        for i in range(50):
            clock.advance(timedelta(minutes=13))  # every ALICE request really sends a code
            for number in (ALICE, STRANGER) if i % 2 else (STRANGER, ALICE):
                start = time.perf_counter()
                assert _ask(c, token, number).status_code == 200
                times[number].append(time.perf_counter() - start)
        known, stranger = statistics.median(times[ALICE][5:]), statistics.median(times[STRANGER][5:])
        print(f"median answer: subscriber {known * 1000:.2f} ms, stranger {stranger * 1000:.2f} ms")
        rounds.append((known, stranger))
        if abs(known - stranger) < 0.25 * min(known, stranger):
            return
    raise AssertionError(f"a subscriber's answer and a stranger's differ by more than 25% in every round: {rounds}")
