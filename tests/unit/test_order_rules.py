"""Pure rules of orders: when one is refused, and what a wrong code does (no DB, no clock)."""

from __future__ import annotations

import pytest

from mingbai.subscriptions.rules import (
    DUPLICATES,
    Refusal,
    attempts_left,
    count_wrong_code,
    order_refusal,
    subscriber_refusal,
)
from mingbai.subscriptions.texts import refusal_reason


def test_subscriber_refusal() -> None:
    assert subscriber_refusal(None) is Refusal.UNKNOWN_SUBSCRIBER
    assert subscriber_refusal("suspended") is Refusal.SUBSCRIBER_INACTIVE
    assert subscriber_refusal("closed") is Refusal.SUBSCRIBER_INACTIVE
    assert subscriber_refusal("active") is None


def ok(**kw: object) -> Refusal | None:
    args: dict[str, object] = {"sp_status": "active", "service_status": "active", "subscribed": False}
    args.update(kw)
    return order_refusal(**args)  # type: ignore[arg-type]


def test_order_taken_when_nothing_refuses_it() -> None:
    assert ok() is None
    assert ok(pending=False) is None


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"sp_status": None}, Refusal.UNKNOWN_SERVICE),
        ({"service_status": None}, Refusal.UNKNOWN_SERVICE),
        ({"sp_status": "suspended"}, Refusal.SP_SUSPENDED),
        ({"service_status": "suspended"}, Refusal.SERVICE_SUSPENDED),
        ({"subscribed": True}, Refusal.ALREADY_SUBSCRIBED),
        ({"pending": True}, Refusal.PENDING_EXISTS),
    ],
)
def test_each_refusal(kw: dict[str, object], expected: Refusal) -> None:
    assert ok(**kw) is expected


def test_first_reason_wins() -> None:
    # the order placing and confirming have always asked in
    assert ok(sp_status=None, subscribed=True, pending=True) is Refusal.UNKNOWN_SERVICE
    assert ok(sp_status="suspended", service_status="suspended", subscribed=True) is Refusal.SP_SUSPENDED
    assert ok(service_status="suspended", subscribed=True, pending=True) is Refusal.SERVICE_SUSPENDED
    assert ok(subscribed=True, pending=True) is Refusal.ALREADY_SUBSCRIBED


def test_refusal_codes_are_the_api_error_codes() -> None:
    assert {r.value for r in Refusal} == {
        "unknown_subscriber",
        "subscriber_inactive",
        "unknown_service",
        "sp_suspended",
        "service_suspended",
        "already_subscribed",
        "pending_exists",
    }
    assert {Refusal.ALREADY_SUBSCRIBED, Refusal.PENDING_EXISTS} == DUPLICATES


def test_confirmation_refusals_keep_their_words() -> None:
    assert refusal_reason(Refusal.SP_SUSPENDED) == "该业务提供商已暂停受理新订购"
    assert refusal_reason(Refusal.SERVICE_SUSPENDED) == "该业务已暂停受理"
    assert refusal_reason(Refusal.ALREADY_SUBSCRIBED) == "您已订购该业务"
    assert all(refusal_reason(r) for r in Refusal)


def test_attempts_left() -> None:
    assert attempts_left(0, 5) == 5
    assert attempts_left(4, 5) == 1
    assert attempts_left(5, 5) == 0
    assert attempts_left(7, 5) == 0


def test_wrong_code_counts_against_every_waiting_order() -> None:
    w = count_wrong_code([0, 2], 5)
    assert w.attempts == (1, 3)
    assert w.failed == (False, False)
    assert not w.locked
    assert w.left == 2  # the fewest any waiting order allows


def test_fifth_wrong_code_locks() -> None:
    w = count_wrong_code([4, 1], 5)
    assert w.attempts == (5, 2)
    assert w.failed == (True, False)
    assert w.locked
    assert w.left == 0


def test_limit_lowered_below_an_orders_count_fails_it() -> None:
    w = count_wrong_code([6], 5)
    assert w.failed == (True,) and w.locked and w.left == 0


def test_nothing_waiting() -> None:
    w = count_wrong_code([], 5)
    assert w.attempts == () and not w.locked and w.left == 5


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_an_order_fails_on_exactly_its_limit(limit: int) -> None:
    attempts = 0
    for n in range(1, limit + 1):
        w = count_wrong_code([attempts], limit)
        attempts = w.attempts[0]
        assert w.locked == (n == limit)
        assert w.left == limit - n
