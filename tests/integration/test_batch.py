"""MOs handled in batches (``Platform.receive_many``) answer exactly as one by one.

The batch path decides code replies and keyword orders set-based, runs any other MO alone
behind a savepoint, and falls back to one-by-one handling when a batch fails. Whatever the
mix and the cut into batches, every MO must get the same label and reply, and the database
must end in the same state, as with ``receive_sms`` one at a time.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mingbai.errors import Conflict, InvalidInput, MingbaiError
from mingbai.messaging.inbound import MoResult
from mingbai.messaging.router import Mo
from mingbai.platform import Platform
from mingbai.subscriptions import service as subs
from mingbai.subscriptions import texts
from tests.helpers import ALICE, BOB, code_from, owner_uow, received

CAROL = "13700137000"
STRANGER = "13600136000"  # a valid number that is no subscriber of ours
PEOPLE = [ALICE, BOB, CAROL, STRANGER]
KEYWORDS = [("10668888", "XW"), ("10668888", "TQ"), ("10661700", "TL"), ("10665566", "JJ"), ("10665566", "QQ")]

# an action is materialised into an MO just before its batch runs, from what the run has seen
action = st.one_of(
    st.tuples(st.just("keyword"), st.sampled_from(PEOPLE), st.sampled_from(KEYWORDS)),
    st.tuples(st.just("code"), st.sampled_from(PEOPLE), st.integers(0, 3)),
    st.tuples(st.just("guess"), st.sampled_from(PEOPLE), st.just("")),
    st.tuples(
        st.just("10086"), st.sampled_from(PEOPLE), st.sampled_from(["0000", "1", "00000", "TDSINA-NEWS", "hello"])
    ),
    st.tuples(st.just("bad"), st.sampled_from(["12345", "abc", ""]), st.just("")),
)
batches = st.lists(st.lists(action, min_size=1, max_size=8), min_size=1, max_size=5)


def _reset(platform: Platform) -> int:
    """Empty what the run compares; events are append-only, so return where this run's start."""
    with owner_uow(platform) as ctx:  # mo_message is append-only for the platform
        for table in ("subscription", "sub_order", "sms_outbox", "mo_message", "unsubscribe_menu"):
            ctx.session.execute(text(f"DELETE FROM {table}"))
        return int(ctx.session.execute(text("SELECT coalesce(max(id), 0) FROM subscription_event")).scalar_one())


def _materialise(act: tuple[Any, ...], codes: dict[str, list[str]]) -> tuple[str, str, str]:
    kind, who, arg = act
    if kind == "keyword":
        number, keyword = arg
        return who, number, keyword
    if kind == "code":
        known = codes.get(who, [])
        return who, "10086", known[arg % len(known)] if known else "000000"
    if kind == "guess":
        return who, "10086", "999999"
    if kind == "10086":
        return who, "10086", arg
    return who, "10086", "0000"  # "bad": a malformed sender


_CODE = re.compile(r"验证码\d{6}")


def _outcome(result: MoResult | MingbaiError) -> tuple[Any, ...]:
    if isinstance(result, MingbaiError):
        return ("refused", result.code)
    return (result.handled_as, tuple(_CODE.sub("验证码######", r.text) for r in result.replies))


def _learn(platform: Platform, result: MoResult | MingbaiError, codes: dict[str, list[str]]) -> None:
    """The codes the phones received (replies as reported carry none)."""
    if isinstance(result, MoResult):
        for reply in result.replies:
            if _CODE.search(on_phone := received(platform, reply)):
                codes.setdefault(reply.to, []).append(code_from(on_phone))


def _state(platform: Platform, events_after: int) -> dict[str, Any]:
    with platform.uow() as ctx:

        def q(sql: str) -> list[tuple[Any, ...]]:
            return sorted(tuple(r) for r in ctx.session.execute(text(sql)).all())

        mos = [
            (m, to, re.sub(r"^\d{6}$", "######", body), label)
            for m, to, body, label in q("SELECT msisdn, recipient, text, handled_as FROM mo_message")
        ]
        return {
            "mos": sorted(mos),
            "subscriptions": q(
                "SELECT msisdn, service_code, status, channel, trial, first_charge_on FROM subscription"
            ),
            "orders": q("SELECT msisdn, service_code, status, attempts, channel FROM sub_order"),
            "events": q(
                f"SELECT msisdn, kind, service_code, channel, actor FROM subscription_event WHERE id > {events_after}"
            ),
            "outbox": q("SELECT msisdn, kind, status FROM sms_outbox"),
        }


def _run(platform: Platform, plan: list[list[tuple[Any, ...]]], *, batched: bool) -> tuple[list[Any], dict[str, Any]]:
    events_after = _reset(platform)
    codes: dict[str, list[str]] = {}
    outcomes: list[Any] = []
    for batch in plan:
        mos = [_materialise(a, codes) for a in batch]
        if batched:
            results = platform.receive_many(mos)
        else:
            results = []
            for sender, to, body in mos:
                try:
                    results.append(platform.receive_sms(sender, to, body))
                except MingbaiError as exc:
                    results.append(exc)
        for r in results:
            _learn(platform, r, codes)
        outcomes.extend(_outcome(r) for r in results)
    return outcomes, _state(platform, events_after)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=batches)
def test_batches_answer_as_one_by_one(platform: Platform, plan: list[list[tuple[Any, ...]]]) -> None:
    one_by_one = _run(platform, plan, batched=False)
    batched = _run(platform, plan, batched=True)
    assert batched[0] == one_by_one[0]
    assert batched[1] == one_by_one[1]


def test_a_busy_batch_orders_and_confirms(platform: Platform) -> None:
    """The figure's flow: keyword orders from many phones in one batch, their codes in the next."""
    placed = platform.receive_many([(m, "10668888", "XW") for m in (ALICE, BOB, CAROL)])
    assert [r.handled_as for r in placed if isinstance(r, MoResult)] == ["sp_order"] * 3
    codes = [code_from(received(platform, r.replies[0])) for r in placed if isinstance(r, MoResult)]
    confirmed = platform.receive_many([(m, "10086", c) for m, c in zip((ALICE, BOB, CAROL), codes, strict=True)])
    assert [r.handled_as for r in confirmed if isinstance(r, MoResult)] == ["code_confirmed"] * 3
    with platform.uow() as ctx:
        assert {v.msisdn for v in subs.list_subscriptions(ctx, msisdn=ALICE)} == {ALICE}
        active = ctx.session.execute(text("SELECT count(*) FROM subscription WHERE status = 'active'")).scalar()
    assert active == 3


def test_orders_still_pending_are_refused_naming_their_service(platform: Platform) -> None:
    """A keyword sent again before its code is answered: each refusal names its own service."""
    platform.receive_many([(ALICE, "10668888", "XW"), (BOB, "10665566", "JJ")])
    again = platform.receive_many([(ALICE, "10668888", "XW"), (BOB, "10665566", "JJ"), (CAROL, "10668888", "XW")])
    assert [r.handled_as for r in again if isinstance(r, MoResult)] == [
        "sp_order_refused",
        "sp_order_refused",
        "sp_order",
    ]
    with platform.uow() as ctx:
        expected = [texts.pending_exists(subs.catalog_entry(ctx, code).facts) for code in ("SINA-NEWS", "SOHU-TRAFFIC")]
    assert [r.replies[0].text for r in again[:2] if isinstance(r, MoResult)] == expected


def test_one_phone_twice_in_a_batch_is_decided_in_order(platform: Platform) -> None:
    """Order, then its code, in one batch: the code reply is decided after the order exists."""
    first = platform.receive_many([(ALICE, "10668888", "XW")])[0]
    assert isinstance(first, MoResult)
    code = code_from(received(platform, first.replies[0]))
    results = platform.receive_many([(ALICE, "10668888", "TQ"), (ALICE, "10086", code), (ALICE, "10086", "0000")])
    assert [r.handled_as for r in results if isinstance(r, MoResult)] == ["sp_order", "code_confirmed", "query"]
    menu = results[2]
    assert isinstance(menu, MoResult) and "1." in menu.replies[0].text


def test_a_refused_mo_in_a_batch_leaves_only_its_apology(platform: Platform) -> None:
    """An MO whose handler fails halfway is rolled back to its savepoint; the others stand."""

    def half_then_refuse(ctx: Any, mo: Mo) -> str:
        subs.record_event(
            ctx, msisdn=mo.msisdn, kind="probe", service_code="X", actor="t", channel="sms", order_id=None
        )
        raise Conflict("refused on purpose", code="on_purpose")

    platform.router.route("10000", half_then_refuse)
    results = platform.receive_many([(ALICE, "10000", "hi"), (BOB, "10668888", "XW"), ("1", "10086", "0000")])
    refused, ordered, malformed = results
    assert isinstance(refused, MoResult) and refused.handled_as == "error"
    assert "on_purpose" in refused.replies[0].text and len(refused.replies) == 1
    assert isinstance(ordered, MoResult) and ordered.handled_as == "sp_order"
    assert isinstance(malformed, InvalidInput)
    with platform.uow() as ctx:
        probes = ctx.session.execute(text("SELECT count(*) FROM subscription_event WHERE kind = 'probe'")).scalar()
        mos = ctx.session.execute(text("SELECT msisdn, handled_as FROM mo_message ORDER BY msisdn")).all()
    assert probes == 0
    assert [tuple(r) for r in mos] == [(ALICE, "error"), (BOB, "sp_order")]


def test_a_failing_batch_is_handled_one_by_one(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: Any, mos: list[Mo]) -> list[Any]:
        raise RuntimeError("database went away mid-batch")

    monkeypatch.setattr(platform.router, "_exact_batch", {"10086": broken})
    results = platform.receive_many([(ALICE, "10086", "0000"), (BOB, "10086", "123456")])
    assert [r.handled_as for r in results if isinstance(r, MoResult)] == ["query", "code_no_pending"]
    with platform.uow() as ctx:
        assert ctx.session.execute(text("SELECT count(*) FROM mo_message")).scalar() == 2
