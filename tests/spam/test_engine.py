"""The inline engine: content model plus port and behaviour rules, per strategy."""

from __future__ import annotations

import pytest

from mingbai.spam.engine import Message, PortInfo
from mingbai.spam.model import to_score
from tests.spam.conftest import HAM_TEXT, NOW, SPAM_TEXT

BANK = {"1065750012345": PortInfo("工商银行", "工商银行", "active")}
NOTICE = "您尾号7544卡11日11:03ATM支出2,000元，手续费2元。【工商银行】"


def person(text: str, sender: str = "13800138000", recipient: str = "13900139000") -> Message:
    return Message(sender, recipient, text, "person")


def test_content_blocks_spam_and_passes_a_person(make_engine, model):
    engine = make_engine()
    spam = engine.check(person(SPAM_TEXT), NOW)
    assert spam.verdict == "block" and spam.reasons == ("content",)
    assert spam.score >= model.block_at
    ham = engine.check(person(HAM_TEXT), NOW)
    assert ham.verdict == "pass" and ham.reasons == () and ham.score < model.review_at
    assert (spam.strategy_version, spam.model_version) == (1, model.version)


def test_score_is_the_model_score(make_engine, model):
    # without any rule firing, the verdict's score is the content model's own
    decision = make_engine().check(person(SPAM_TEXT), NOW)
    assert decision.score == round(model.score(SPAM_TEXT), 4)


def test_strategy_thresholds_override_the_model(make_engine):
    grey = make_engine(block_at=0.99999, review_at=0.5).check(person(SPAM_TEXT), NOW)
    assert grey.verdict == "review"
    off = make_engine(content=False).check(person(SPAM_TEXT), NOW)
    assert off.verdict == "pass" and off.score < 0.01


@pytest.mark.parametrize(
    "sender, text, reason",
    [
        ("1065750099999", NOTICE, "port_unregistered"),
        ("1065750012345", "您尾号7544卡支出2,000元", "port_unsigned"),
        ("1065750012345", "您尾号7544卡支出2,000元【建设银行】", "port_signature_mismatch"),
    ],
)
def test_industry_port_rules_block(make_engine, sender, text, reason):
    decision = make_engine(ports=BANK).check(Message(sender, "13900139000", text, "industry"), NOW)
    assert decision.verdict == "block" and reason in decision.reasons


def test_signed_notice_from_a_registered_port_passes(make_engine):
    decision = make_engine(ports=BANK).check(Message("1065750012345", "13900139000", NOTICE, "industry"), NOW)
    assert decision.verdict == "pass"


def test_port_states(make_engine):
    msg = Message("1065750012345", "13900139000", NOTICE, "industry")
    closed = make_engine(ports={"1065750012345": PortInfo("工商银行", "工商银行", "closed")}).check(msg, NOW)
    assert closed.verdict == "block" and closed.reasons == ("port_closed",)
    base = make_engine(ports=BANK).check(msg, NOW).score
    warned = make_engine(ports={"1065750012345": PortInfo("工商银行", "工商银行", "warned")}).check(msg, NOW)
    assert "port_warned" in warned.reasons and warned.score > base
    pen = make_engine(ports={"1065750012345": PortInfo("工商银行", "工商银行", "penalised")}).check(msg, NOW)
    assert "port_penalised" in pen.reasons and pen.score > warned.score


def test_unregistered_ports_may_be_allowed_by_strategy(make_engine):
    decision = make_engine(block_unregistered_ports=False).check(
        Message("1065750099999", "13900139000", NOTICE, "industry"), NOW
    )
    assert decision.verdict == "pass"


def test_port_rules_switch(make_engine):
    decision = make_engine(port_rules=False).check(Message("1065750099999", "13900139000", NOTICE, "industry"), NOW)
    assert "port_unregistered" not in decision.reasons


def test_marked_senders(make_engine):
    engine = make_engine(senders={"13800138000": "blocked", "13700137000": "watched"})
    assert engine.check(person(HAM_TEXT), NOW).reasons == ("sender_blocked",)
    assert engine.check(person(SPAM_TEXT), NOW).verdict == "block"
    watched = engine.check(person(HAM_TEXT, sender="13700137000"), NOW)
    plain = engine.check(person(HAM_TEXT, sender="15800158000"), NOW)
    assert "sender_reported" in watched.reasons and watched.score > plain.score


def test_international_senders_get_a_stricter_look(make_engine):
    engine = make_engine()
    local = engine.check(person(HAM_TEXT), NOW).score
    abroad = engine.check(Message("+85291234567", "13900139000", HAM_TEXT, "international"), NOW).score
    assert abroad > local


def test_message_rate_raises_the_score(make_engine):
    engine = make_engine(max_per_minute=5, max_recipients_per_hour=1000, near_duplicates=False)
    first = engine.check(person(HAM_TEXT), NOW)
    for i in range(5):
        last = engine.check(person(f"{HAM_TEXT}{i}"), NOW + i)
    assert "sender_rate" in last.reasons and last.score > first.score


def test_fanout_raises_the_score(make_engine):
    engine = make_engine(max_per_minute=10_000, max_recipients_per_hour=10, near_duplicates=False)
    decisions = [engine.check(person(f"第{i}条", recipient=f"1390000{i:04d}"), NOW + i) for i in range(12)]
    assert "sender_fanout" not in decisions[5].reasons
    assert "sender_fanout" in decisions[-1].reasons


def test_near_duplicate_burst_from_many_senders(make_engine):
    engine = make_engine(burst_recipients=10)
    template = "亲爱的朋友，本周末商场大促，凭此短信到店领取精美礼品一份，地址人民路{}号，详询店员"
    decisions = [
        engine.check(person(template.format(i), sender=f"1380000{i:04d}", recipient=f"1390000{i:04d}"), NOW + i)
        for i in range(14)
    ]
    assert "near_duplicate_burst" not in decisions[3].reasons
    assert "near_duplicate_burst" in decisions[-1].reasons
    # an unrelated message from yet another sender is not part of it
    other = engine.check(person(HAM_TEXT, sender="13800009999", recipient="13900009999"), NOW + 20)
    assert "near_duplicate_burst" not in other.reasons


def test_behaviour_ignores_industry_ports_by_default(make_engine):
    engine = make_engine(ports=BANK, max_per_minute=2)
    for i in range(5):
        d = engine.check(Message("1065750012345", f"1390000{i:04d}", NOTICE, "industry"), NOW)
    assert d.reasons == ()


def test_installing_a_new_snapshot_switches_at_once(make_engine, model):
    from mingbai.spam.engine import Snapshot
    from mingbai.spam.rules import Strategy

    engine = make_engine()
    assert engine.check(person(SPAM_TEXT), NOW).verdict == "block"
    engine.install(Snapshot(Strategy(version=7, model_version=model.version, block_at=0.99999, review_at=0.3), model))
    decision = engine.check(person(SPAM_TEXT), NOW)
    assert (decision.verdict, decision.strategy_version) == ("review", 7)


def test_bad_port_type_is_refused(make_engine):
    with pytest.raises(ValueError):
        make_engine().check(Message("13800138000", "13900139000", "x", "fax"), NOW)


def test_score_helper_is_logistic():
    assert to_score(0) == 0.5 and to_score(1000) == pytest.approx(1.0) and to_score(-1000) == pytest.approx(0.0)
