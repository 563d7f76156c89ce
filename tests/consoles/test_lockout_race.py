"""Lock-out counters under parallel guesses, on PostgreSQL with real threads (issue 12).

Each guess counts itself with one conditional UPDATE before it is checked, so however many
arrive at once, no more are checked than the limit allows: passwords per account × address,
sign-in codes per code, order codes per order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from mingbai.accounts import rules
from mingbai.accounts import service as accounts
from mingbai.accounts.demo import demo_password, seed_demo_accounts
from mingbai.accounts.models import LoginCode, SignInAttempt
from mingbai.platform import Platform
from mingbai.subscriptions.models import Order, SubscriptionEvent
from tests.helpers import ALICE, code_from, last_delivered, order


def _parallel(n: int, attempt: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        return attempt(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the password checks that really ran (argon2 verifications)."""
    seen: list[str] = []
    real = accounts.hasher

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def verify(self, hash_: str, password: str) -> bool:
            seen.append(password)
            return real.verify(hash_, password)

    monkeypatch.setattr(accounts, "hasher", Counting())
    return seen


def _password(platform: Platform, password: str, address: str) -> str:
    with platform.uow() as ctx:
        return accounts.sign_in_password(ctx, username="agent", password=password, address=address).reason


def test_forty_parallel_wrong_passwords_are_checked_five_times(pg_platform: Platform, checks: list[str]) -> None:
    with pg_platform.uow() as ctx:
        seed_demo_accounts(ctx)
    reasons = _parallel(40, lambda i: _password(pg_platform, f"wrong-password-{i}", "203.0.113.9"))
    assert len(checks) == rules.MAX_FAILURES_PER_SUBJECT
    assert sorted(set(reasons)) == ["bad_credentials", "locked"]
    assert reasons.count("bad_credentials") == rules.MAX_FAILURES_PER_SUBJECT
    # the same address waits, even with the right password; the real user elsewhere gets in
    assert _password(pg_platform, demo_password("agent"), "203.0.113.9") == "locked"
    assert _password(pg_platform, demo_password("agent"), "198.51.100.7") == "ok"
    with pg_platform.uow() as ctx:
        told = ctx.session.scalar(
            select(func.count()).select_from(SignInAttempt).where(SignInAttempt.reason == "backoff")
        )
    assert told == 1  # security is told once, when the back-off starts


def _request_code(platform: Platform) -> str:
    with platform.uow() as ctx:
        assert accounts.request_login_code(ctx, msisdn=ALICE, address="192.0.2.1") == "sent"
    return code_from(last_delivered(platform, ALICE).replace("登录验证码", "验证码"))


def test_sixty_parallel_guesses_burn_a_sign_in_code_after_its_attempts(pg_platform: Platform) -> None:
    code = _request_code(pg_platform)
    wrong = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(60)]

    def guess(i: int) -> str:
        # every guess from its own address: only the code's own count can stop them
        with pg_platform.uow() as ctx:
            return accounts.sign_in_code(ctx, msisdn=ALICE, code=wrong[i], address=f"10.0.{i}.1").reason

    reasons = _parallel(60, guess)
    assert reasons.count("bad_credentials") == rules.LOGIN_CODE_ATTEMPTS
    assert reasons.count("no_code") == 60 - rules.LOGIN_CODE_ATTEMPTS
    with pg_platform.uow() as ctx:
        row = ctx.session.scalars(select(LoginCode).where(LoginCode.msisdn == ALICE)).one()
        assert row.attempts == rules.LOGIN_CODE_ATTEMPTS and row.used_at is not None
        # the right code no longer works: it was burnt
        assert accounts.sign_in_code(ctx, msisdn=ALICE, code=code, address="10.9.9.9").reason == "no_code"


def test_sixty_parallel_guesses_at_an_order_code_fail_the_order_after_five(pg_platform: Platform) -> None:
    placed, code = order(pg_platform)
    wrong = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(60)]
    labels = _parallel(60, lambda i: pg_platform.receive_sms(ALICE, "10086", wrong[i]).handled_as)
    limit = pg_platform.settings.max_code_attempts
    with pg_platform.uow() as ctx:
        row = ctx.session.scalars(select(Order).where(Order.id == placed.order_id)).one()
        judged = ctx.session.scalar(
            select(func.count())
            .select_from(SubscriptionEvent)
            .where(SubscriptionEvent.kind.in_(("code_rejected", "code_locked")))
        )
    assert row.status == "failed" and row.attempts == limit
    assert judged == limit, labels
    assert pg_platform.receive_sms(ALICE, "10086", code).handled_as != "code_confirmed"
