"""The MO router as the capabilities fill it: each registers its own numbers."""

from __future__ import annotations

import pytest

from mingbai.db import Ctx
from mingbai.messaging.router import Mo, MoHandler, MoRouter
from mingbai.messaging.rules import waves
from mingbai.platform import build_router


def _mo(recipient: str, text: str = "hi") -> Mo:
    return Mo("13800138000", recipient, text, 1)


def test_a_wrapper_sees_the_number_first_and_keeps_its_batch_handler() -> None:
    router = MoRouter()
    router.route("10086", lambda ctx, mo: "core", batch=lambda ctx, mos: ["batched"] * len(mos))

    def first(inner: MoHandler) -> MoHandler:
        return lambda ctx, mo: "wrapped" if mo.text == "YY" else inner(ctx, mo)

    router.wrap("10086", first)
    ctx: Ctx = None  # type: ignore[assignment]  # the handlers here never touch it
    assert router.dispatch(ctx, _mo("10086", "YY")) == "wrapped"
    assert router.dispatch(ctx, _mo("10086", "0000")) == "core"
    assert router.dispatch_many(ctx, [_mo("10086")]) == ["batched"]


def test_only_a_registered_number_can_be_wrapped() -> None:
    with pytest.raises(ValueError, match="10086"):
        MoRouter().wrap("10086", lambda inner: inner)


def test_the_platform_router_has_every_capability_registered_once() -> None:
    router = build_router()
    assert sorted(router._exact) == ["10086", "10086007", "10086999"]  # 10086007: the vault's approvers
    assert sorted(router._exact_batch) == ["10086"]
    assert len(router._fallback) == 1 and len(router._fallback_batch) == 1
    with pytest.raises(ValueError, match="already"):
        router.route("10086999", lambda ctx, mo: "twice")


def test_waves_hold_each_subscriber_once_in_order() -> None:
    assert waves(["a", "b", "a", "c", "a", "b"]) == [[0, 1, 3], [2, 5], [4]]
    assert waves([]) == []
