"""Confirmation codes (R2): random, bound to subscriber + order, decided without a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mingbai.subscriptions.rules import CodeCandidate, CodeVerdict, code_mac, decide_code_reply, new_code

KEY = b"k" * 32
NOW = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)
M = "13800138000"


def cand(order_id: int, code: str, status: str = "pending", ttl: int = 10, msisdn: str = M) -> CodeCandidate:
    return CodeCandidate(order_id, status, NOW + timedelta(minutes=ttl), code_mac(KEY, msisdn, order_id, code), 0)


def test_codes_are_six_digits_and_vary() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190


def test_confirm_picks_the_matching_order() -> None:
    d = decide_code_reply(KEY, M, "222222", [cand(1, "111111"), cand(2, "222222")], NOW)
    assert d.verdict is CodeVerdict.CONFIRM and d.order_id == 2


def test_code_bound_to_subscriber_and_order() -> None:
    # the right digits for another number or another order do not confirm
    assert (
        decide_code_reply(KEY, M, "111111", [cand(1, "111111", msisdn="13900139000")], NOW).verdict is CodeVerdict.WRONG
    )
    other = CodeCandidate(2, "pending", NOW + timedelta(minutes=5), code_mac(KEY, M, 1, "111111"), 0)
    assert decide_code_reply(KEY, M, "111111", [other], NOW).verdict is CodeVerdict.WRONG


def test_expired_and_none() -> None:
    assert decide_code_reply(KEY, M, "111111", [cand(1, "111111", ttl=-1)], NOW).verdict is CodeVerdict.EXPIRED
    assert (
        decide_code_reply(KEY, M, "111111", [cand(1, "111111", status="expired")], NOW).verdict is CodeVerdict.EXPIRED
    )
    assert decide_code_reply(KEY, M, "111111", [], NOW).verdict is CodeVerdict.NO_PENDING
    assert decide_code_reply(KEY, M, "999999", [cand(1, "111111", ttl=-1)], NOW).verdict is CodeVerdict.NO_PENDING


def test_boundary_instant_is_expired() -> None:
    c = CodeCandidate(1, "pending", NOW, code_mac(KEY, M, 1, "123456"), 0)
    assert decide_code_reply(KEY, M, "123456", [c], NOW).verdict is CodeVerdict.EXPIRED


@given(st.text(min_size=6, max_size=6, alphabet="0123456789"))
def test_only_the_code_confirms(guess: str) -> None:
    d = decide_code_reply(KEY, M, guess, [cand(7, "314159")], NOW)
    assert (d.verdict is CodeVerdict.CONFIRM) == (guess == "314159")
