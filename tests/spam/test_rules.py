"""Pure rules: strategy validation, sanction escalation, report and check-input parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.errors import InvalidInput
from mingbai.spam.rules import (
    Strategy,
    check_input,
    escalated_port_state,
    escalated_sender_state,
    parse_check_line,
    parse_report,
    parse_setting,
    strategy_from_config,
    validate_port,
    validate_signature,
)


def test_strategy_config_round_trip_and_overlay():
    base = Strategy(version=3, model_version="m1", max_per_minute=9)
    again = strategy_from_config(3, base.config())
    assert again == base
    newer = strategy_from_config(4, {"block_at": 0.97, "near_duplicates": False}, base)
    assert newer.version == 4 and newer.block_at == 0.97 and not newer.near_duplicates
    assert newer.max_per_minute == 9  # inherited from the base


@pytest.mark.parametrize(
    "config, message",
    [
        ({"nope": 1}, "unknown strategy settings"),
        ({"block_at": 1.5}, "strictly between 0 and 1"),
        ({"block_at": True}, "strictly between 0 and 1"),
        ({"content": "yes"}, "true or false"),
        ({"max_per_minute": 0}, "between 1 and"),
        ({"max_per_minute": 2.5}, "whole number"),
        ({"rate_boost": 99}, "between -20 and 20"),
        ({"behaviour_port_types": ["fax"]}, "behaviour_port_types"),
        ({"model_version": ""}, "1–64"),
        ({"block_at": 0.5, "review_at": 0.9}, "review_at must not exceed"),
        ({"port_warn_after": 10, "port_close_after": 5}, "escalate"),
        ({"sender_watch_after": 9, "sender_block_after": 3}, "sender_watch_after"),
    ],
)
def test_strategy_config_errors_are_clear(config, message):
    with pytest.raises(InvalidInput, match=message):
        strategy_from_config(2, config)


@given(
    st.dictionaries(
        st.sampled_from(sorted(Strategy().config())),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=True)
        | st.text(max_size=5)
        | st.lists(st.text(max_size=3), max_size=3),
    )
)
def test_strategy_config_fuzz_only_clear_errors(config):
    try:
        s = strategy_from_config(2, config)
    except InvalidInput:
        return
    assert s.version == 2


def test_thresholds_fall_back_to_the_model():
    assert Strategy().thresholds(0.9, 0.6) == (0.9, 0.6)
    assert Strategy(block_at=0.95).thresholds(0.9, 0.6) == (0.95, 0.6)
    # a strategy review threshold above the model's block threshold cannot invert the order
    assert Strategy(review_at=0.97).thresholds(0.9, 0.6) == (0.9, 0.9)


def test_parse_setting():
    assert parse_setting("content=off") == ("content", False)
    assert parse_setting("block_at=0.97") == ("block_at", 0.97)
    assert parse_setting("block_at=model") == ("block_at", None)
    assert parse_setting("max_per_minute=30") == ("max_per_minute", 30)
    assert parse_setting("behaviour_port_types=person, international") == (
        "behaviour_port_types",
        ["person", "international"],
    )
    assert parse_setting("model_version=cng-x") == ("model_version", "cng-x")
    with pytest.raises(InvalidInput):
        parse_setting("novalue")


def test_port_sanctions_escalate_and_never_relax():
    s = Strategy(port_warn_after=3, port_penalise_after=6, port_close_after=10)
    assert escalated_port_state("active", 2, s) == "active"
    assert escalated_port_state("active", 3, s) == "warned"
    assert escalated_port_state("warned", 7, s) == "penalised"
    assert escalated_port_state("active", 10, s) == "closed"
    assert escalated_port_state("closed", 0, s) == "closed"
    assert escalated_port_state("penalised", 4, s) == "penalised"


def test_sender_marks_escalate():
    s = Strategy(sender_watch_after=2, sender_block_after=5)
    assert escalated_sender_state(None, 1, s) is None
    assert escalated_sender_state(None, 2, s) == "watched"
    assert escalated_sender_state("watched", 5, s) == "blocked"
    assert escalated_sender_state("blocked", 2, s) == "blocked"
    assert escalated_sender_state("cleared", 2, s) == "watched"


def test_ports_and_signatures_validated():
    assert validate_port(" 1065750012345 ") == "1065750012345"
    assert validate_signature("【工商银行】") == "工商银行"
    with pytest.raises(InvalidInput):
        validate_port("10a")
    with pytest.raises(InvalidInput):
        validate_signature("【】")


@pytest.mark.parametrize(
    "text, sender, content",
    [
        ("10657000001*恭喜中奖", "10657000001", "恭喜中奖"),
        ("10657000001＊恭喜中奖", "10657000001", "恭喜中奖"),
        ("举报13800138000:办证刻章", "13800138000", "办证刻章"),
        ("+86 138 0013 8000，办证", "13800138000", "办证"),
        ("办证刻章 电话13800138000", None, "办证刻章 电话13800138000"),
        ("  ", None, ""),
        # the common ways people forward spam: sender before or after, colon or space, labels
        ("举报 106900001 【某电商】双十一大促", "106900001", "【某电商】双十一大促"),
        ("106900001 【某电商】双十一大促", "106900001", "【某电商】双十一大促"),
        ("举报：106900001：【某电商】", "106900001", "【某电商】"),
        ("【某电商】双十一大促 106900001", "106900001", "【某电商】双十一大促"),
        ("【某电商】双十一大促*106900001", "106900001", "【某电商】双十一大促"),
        ("举报 【某电商】双十一大促,来自106900001", "106900001", "【某电商】双十一大促"),
        ("举报号码：106900001 内容：恭喜中奖", "106900001", "恭喜中奖"),
        ("恭喜中奖 发送号码:13800138000", "13800138000", "恭喜中奖"),
        ("投诉 106900001", "106900001", ""),
        ("举报:恭喜中奖", None, "恭喜中奖"),
        ("2026 年终大促", None, "2026 年终大促"),
        ("年终大促 满 300 减 50", None, "年终大促 满 300 减 50"),
    ],
)
def test_parse_report(text, sender, content):
    parsed = parse_report(text)
    assert (parsed.sender, parsed.content) == (sender, content)


@given(st.text(max_size=80))
def test_parse_report_fuzz(text):
    parsed = parse_report(text)
    assert parsed.sender is None or parsed.sender.isdigit()
    assert parsed.content in text or parsed.sender is not None


def test_check_input_accepts_the_documented_line():
    item = parse_check_line(
        '{"sender": "10657000001", "recipient": "13900139000", "text": "x", "port_type": "industry"}'
    )
    assert (item.sender, item.port_type) == ("10657000001", "industry")
    assert check_input({"sender": "+85291234567", "recipient": "13900139000", "text": ""}).port_type == "person"


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"sender": "abc", "recipient": "13900139000", "text": "x"}',
        '{"sender": "13800138000", "recipient": "13900139000"}',
        '{"sender": "13800138000", "recipient": "13900139000", "text": "x", "port_type": "fax"}',
        '{"sender": "13800138000", "recipient": "13900139000", "text": "x", "extra": 1}',
    ],
)
def test_check_input_refuses_with_a_reason(line):
    with pytest.raises(InvalidInput):
        parse_check_line(line)


@given(
    st.one_of(
        st.text(max_size=60),
        st.dictionaries(
            st.sampled_from(["sender", "recipient", "text", "port_type"]),
            st.none() | st.text(max_size=12) | st.integers(),
        ),
    )
)
def test_check_line_fuzz_only_clear_errors(value):
    line = value if isinstance(value, str) else json.dumps(value)
    try:
        item = parse_check_line(line)
    except InvalidInput:
        return
    assert item.port_type in ("person", "industry", "international")
