"""Objecting to a charge by SMS or through an agent: charging stops, the dispute is recorded."""

from __future__ import annotations

from datetime import date, datetime

from hypothesis import given
from hypothesis import strategies as st

from mingbai.charging.billing import run_billing
from mingbai.charging.commands import Objection, parse_objection
from mingbai.charging.rules import parse_billing_period
from mingbai.charging.service import list_charges, list_objections, object_to_charge
from mingbai.clock import SHANGHAI
from mingbai.subscriptions.commands import parse_10086
from mingbai.subscriptions.service import history, list_subscriptions
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE

APRIL = parse_billing_period("2026-04")
MAY = parse_billing_period("2026-05")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


# -- the parser ------------------------------------------------------------------------------


def test_objection_words():
    assert parse_objection("YYSINA-NEWS") == Objection("SINA-NEWS")
    assert parse_objection(" yy sina-news ") == Objection("SINA-NEWS")
    assert parse_objection("ＹＹ") == Objection(None)  # full-width from a Chinese input method
    assert parse_objection("异议QQ-TONES") == Objection("QQ-TONES")
    assert parse_objection("YY:SOHU-MMS") == Objection("SOHU-MMS")
    for other in ("0000", "00000", "TDSINA-NEWS", "123456", "1 3", "Y", "YYY Y", "", "hello"):
        assert parse_objection(other) is None, other


@given(st.text(max_size=80))
def test_objection_parser_never_fails_and_never_steals_a_core_command(text):
    result = parse_objection(text)
    if result is not None:
        assert type(parse_10086(text)).__name__ == "Unknown"  # the core had no meaning for it


# -- by SMS ----------------------------------------------------------------------------------


def _charged_alice(platform, clock, *services: str) -> None:
    for service in services:
        add_subscription(
            platform, msisdn=ALICE, service=service, confirmed_at=sh(2026, 2, 3, 9), first_charge_on=date(2026, 2, 3)
        )
    clock.set(sh(2026, 4, 1, 0, 5))
    run_billing(platform, APRIL, actor="test")
    clock.set(sh(2026, 4, 1, 9, 0))
    platform.deliver()


def test_reply_yy_stops_charging_and_opens_a_dispute(platform, clock, gateway):
    _charged_alice(platform, clock, "SINA-NEWS", "QQ-TONES")
    (reminder,) = [d for d in gateway.delivered if "新浪头条新闻" in "".join(d.parts)]
    assert "回复YYSINA-NEWS停止扣费" in "".join(reminder.parts)
    result = platform.receive_sms(ALICE, "10086", "YYSINA-NEWS")
    assert result.handled_as == "objection_accepted"
    replies = [r.text for r in result.replies]
    assert any("异议已受理" in t and "5元" in t and "2026年4月" in t for t in replies)
    assert any("成功退订新浪的头条新闻业务" in t for t in replies)
    # 结果短信告知, as the acknowledgement promises: no order or confirming SMS is on record for
    # this subscription, so the rule refunds the fee with an equal return at once (R8)
    assert any("费用争议已处理" in t and "退还信息费5元" in t and "双倍返还5元" in t for t in replies)
    with platform.uow() as ctx:
        (objection,) = list_objections(ctx, msisdn=ALICE)
        charges = list_charges(ctx, msisdn=ALICE)
        subs = {s.service_code: s.status for s in list_subscriptions(ctx, msisdn=ALICE)}
        events = [e.kind for e in history(ctx, msisdn=ALICE)]
    news = next(c for c in charges if c.service_code == "SINA-NEWS")
    assert (objection.charge_id, objection.channel, objection.mo_id, objection.status) == (
        news.id,
        "sms",
        result.mo_id,
        "disputed",
    )
    assert objection.amount_fen == 500 and objection.period == "2026-04"
    assert news.objected and not next(c for c in charges if c.service_code == "QQ-TONES").objected
    assert subs == {"SINA-NEWS": "unsubscribed", "QQ-TONES": "active"}
    assert "charge_objected" in events
    # no further charges: May charges only the service not objected to
    clock.set(sh(2026, 5, 1, 0, 5))
    run_billing(platform, MAY, actor="test")
    with platform.uow() as ctx:
        assert [c.service_code for c in list_charges(ctx, msisdn=ALICE, period="2026-05")] == ["QQ-TONES"]


def test_objecting_twice_is_answered_but_recorded_once(platform, clock):
    _charged_alice(platform, clock, "SINA-NEWS")
    assert platform.receive_sms(ALICE, "10086", "YYSINA-NEWS").handled_as == "objection_accepted"
    again = platform.receive_sms(ALICE, "10086", "YY SINA-NEWS")
    assert again.handled_as == "objection_repeated"
    assert "无需重复" in again.replies[-1].text
    with platform.uow() as ctx:
        assert len(list_objections(ctx, msisdn=ALICE)) == 1


def test_bare_yy_takes_the_only_recent_charge_or_asks_which(platform, clock):
    _charged_alice(platform, clock, "SINA-NEWS", "QQ-TONES")
    ask = platform.receive_sms(ALICE, "10086", "YY")
    assert ask.handled_as == "objection_ambiguous"
    assert "YYSINA-NEWS" in ask.replies[-1].text and "YYQQ-TONES" in ask.replies[-1].text
    assert platform.receive_sms(ALICE, "10086", "YYQQ-TONES").handled_as == "objection_accepted"
    with platform.uow() as ctx:
        assert [o.service_code for o in list_objections(ctx, msisdn=ALICE)] == ["QQ-TONES"]


def test_objection_without_a_charge_changes_nothing(platform, clock):
    add_subscription(
        platform,
        msisdn=ALICE,
        service="SINA-NEWS",
        confirmed_at=sh(2026, 4, 2),
        trial=True,
        first_charge_on=date(2026, 5, 1),
    )
    result = platform.receive_sms(ALICE, "10086", "YYSINA-NEWS")
    assert result.handled_as == "objection_no_charge"
    assert "未查到" in result.replies[-1].text
    with platform.uow() as ctx:
        assert [s.status for s in list_subscriptions(ctx, msisdn=ALICE)] == ["active"]
        assert list_objections(ctx) == []


def test_agent_records_an_objection_by_charge_id(platform, clock):
    _charged_alice(platform, clock, "SINA-NEWS")
    with platform.uow() as ctx:
        (charge,) = list_charges(ctx, msisdn=ALICE)
    with platform.uow() as ctx:
        outcome = object_to_charge(ctx, msisdn=ALICE, channel="hotline", actor="agent:zhang", charge_id=charge.id)
    assert outcome.verdict == "accepted" and outcome.stopped == ["SINA-NEWS"]
    with platform.uow() as ctx:
        (o,) = list_objections(ctx, msisdn=ALICE)
    assert (o.channel, o.actor, o.mo_id) == ("hotline", "agent:zhang", None)


def test_a_queued_deduction_reminder_says_the_charge_was_objected_to(platform, clock, gateway):
    """Raised at 00:00, its reminder waits for 08:00; objected to at 07:00 (hotline or "YY"),
    the reminder must not go out inviting an objection already made (issue 13)."""
    add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 2, 9), first_charge_on=date(2026, 3, 1)
    )
    clock.set(sh(2026, 5, 1, 0, 0))
    run_billing(platform, MAY, actor="scheduler")
    clock.set(sh(2026, 5, 1, 7, 0))
    with platform.uow() as ctx:
        (charge,) = list_charges(ctx, msisdn=ALICE, period="2026-05")
        object_to_charge(ctx, msisdn=ALICE, channel="hotline", actor="agent:1", charge_id=charge.id)
    clock.set(sh(2026, 5, 1, 8, 0))
    platform.deliver()
    sent = ["".join(d.parts) for d in gateway.delivered if d.recipient == ALICE]
    (reminder,) = [t for t in sent if t.startswith("【扣费提醒】")]
    assert "已提出异议" in reminder and "停止扣费" in reminder and "回复YY" not in reminder
    assert any("异议已受理" in t for t in sent)
