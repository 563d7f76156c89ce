"""Pure rules of the consoles: masking, passwords, lockout, sessions, the message catalog."""

from __future__ import annotations

import logging
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.accounts import rules
from mingbai.consoles import i18n
from mingbai.consoles.security import MaskNumbersFilter, mask_numbers
from mingbai.consoles.web import safe_next

T0 = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)
SRC = Path(__file__).resolve().parents[2] / "src" / "mingbai" / "consoles"


def test_masking_names_ids_and_subjects():
    assert rules.mask_name("张三") == "张*"
    assert rules.mask_name("欧阳娜娜") == "欧***"
    assert rules.mask_name("李") == "*"
    assert rules.mask_name("") == ""
    assert rules.mask_id_number("430102199001011234") == "4301**********1234"
    assert rules.mask_id_number("E12345678") == "E123*5678"
    assert rules.mask_id_number("1234") == "****"
    assert rules.mask_subject("13800138000") == "138****8000"
    assert rules.mask_subject("operator") == "op******"
    assert rules.mask_subject("ab") == "**"


@given(st.text(min_size=1, max_size=40))
def test_masked_names_never_show_more_than_the_first_character(name):
    masked = rules.mask_name(name)
    stripped = name.strip()
    assert len(masked) == len(stripped)
    assert masked[1:] == "*" * (len(stripped) - 1) if len(stripped) > 1 else masked in ("", "*")


@given(st.text(alphabet=string.digits + "X", min_size=9, max_size=20))
def test_masked_id_numbers_hide_the_middle(value):
    masked = rules.mask_id_number(value)
    assert len(masked) == len(value) and masked[4:-4] == "*" * (len(value) - 8)


def test_password_policy():
    assert rules.check_password("short", "alice")
    assert rules.check_password("aaaaaaaaaaaa", "alice")  # one character repeated
    assert rules.check_password("alicealice", "alicealice")
    assert rules.check_password("x" * 129 + "abc", "alice")
    assert rules.check_password("correct horse battery", "alice") is None


def test_common_breached_and_patterned_passwords_are_refused():
    for weak, why in (
        ("password123", "common"),
        ("Password123!", "common"),  # a common word dressed in digits and signs
        ("iloveyou2026", "common"),
        ("qwertyuiop", "common"),
        ("1234567890", "digits"),
        ("98765432109", "digits"),
        ("abcabcabcabc", "easy"),  # one short pattern repeated
        ("hunter2hunter2", "easy"),
        ("zaq12wsxcde3", "run"),  # keyboard columns
        ("Qwertzuiopasdf", "run"),
        ("agent12345", "username"),
        ("tnega-2024!", "username"),  # reversed
    ):
        reason = rules.check_password(weak, "agent")
        assert reason and why in reason, (weak, reason)
    assert len(rules.common_passwords()) > 19_000 and "123456" in rules.common_passwords()
    for fine in ("correct horse battery", "mingbai-agent", "Tr0ub4dor&3x", "雨后的西湖边散步看荷花"):
        assert rules.check_password(fine, "agent") is None, fine


def test_weak_passwords_are_refused_on_create_and_change(platform):
    from mingbai.accounts.service import create_user, set_password
    from mingbai.errors import InvalidInput

    with platform.uow() as ctx:
        for weak in ("password123", "1234567890"):
            with pytest.raises(InvalidInput, match="password"):
                create_user(ctx, username="li.ming", role="agent", display_name="李明", password=weak)
        create_user(ctx, username="li.ming", role="agent", display_name="李明", password="slow-river-lantern")
        with pytest.raises(InvalidInput, match="common"):
            set_password(ctx, username="li.ming", password="password123")
        set_password(ctx, username="li.ming", password="quiet-harbour-tea")


def test_username_policy():
    assert rules.check_username("agent.li") is None
    assert rules.check_username("Agent")  # lower case only (we lower-case before checking)
    assert rules.check_username("1agent")
    assert rules.check_username("a")
    assert rules.check_username("a" * 33)


def test_lockout_thresholds():
    assert not rules.locked_out(4, 29)
    assert rules.locked_out(5, 0)
    assert rules.locked_out(0, 30)


def test_login_codes_are_throttled():
    assert rules.may_send_login_code([], T0)
    assert not rules.may_send_login_code([T0 - timedelta(seconds=59)], T0)
    assert rules.may_send_login_code([T0 - timedelta(seconds=61)], T0)
    five = [T0 - timedelta(minutes=10 * i + 2) for i in range(5)]
    assert not rules.may_send_login_code(five, T0)


def test_session_lifetime_idle_and_absolute():
    policy = rules.STAFF_SESSION
    assert rules.session_alive(T0, T0, T0 + timedelta(minutes=29), policy)
    assert not rules.session_alive(T0, T0, T0 + timedelta(minutes=30), policy)
    late = T0 + timedelta(hours=10)
    assert not rules.session_alive(T0, late - timedelta(minutes=1), late, policy)
    assert rules.SUBSCRIBER_SESSION.idle < policy.idle


def test_safe_next_keeps_redirects_local():
    assert safe_next("/agent") == "/agent"
    for bad in ("//evil.example", "https://evil.example", "/\\evil", "", None, "agent"):
        assert safe_next(bad) == "/console"


def test_numbers_in_log_lines_are_masked():
    assert mask_numbers("GET /agent/subscribers/13800138000 HTTP/1.1") == "GET /agent/subscribers/138****8000 HTTP/1.1"
    assert mask_numbers("from +8613900139000 to 10086") == "from 139****9000 to 10086"
    assert mask_numbers("order 502873232625792 id") == "order 502873232625792 id"  # long ids untouched
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s"',
        ("1.2.3.4", "GET", "/agent/subscribers/13800138000"),
        None,
    )
    MaskNumbersFilter().filter(record)
    assert "13800138000" not in record.getMessage() and "138****8000" in record.getMessage()


# -- the message catalog ---------------------------------------------------------------------------

_KEY_IN_TEMPLATE = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_]+)["']""")
_KEY_IN_PYTHON = re.compile(r"""\b(?:t|translator\([^)]*\))\(\s*["']([a-z_]+\.[a-z0-9_]+)["']""")


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in (SRC / "templates").rglob("*.html"):
        keys |= set(_KEY_IN_TEMPLATE.findall(path.read_text(encoding="utf-8")))
    for path in SRC.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        keys |= set(_KEY_IN_PYTHON.findall(text))
        keys |= {m for m in re.findall(r'"((?:auth|nav|done|error|chart)\.[a-z0-9_]+)"', text) if m != "error.html"}
    return keys


def test_every_message_used_exists_in_both_languages():
    used = _used_keys()
    assert len(used) > 150
    missing = sorted(k for k in used if k not in i18n.MESSAGES)
    assert not missing, missing
    for key, (zh, en) in i18n.MESSAGES.items():
        assert zh.strip() and en.strip(), key
        assert set(re.findall(r"{(\w+)}", zh)) == set(re.findall(r"{(\w+)}", en)), key
        assert re.search(r"[\u4e00-\u9fff]", en) is None or key == "lang.switch", f"{key}: Chinese in English"


def test_translator_formats_and_falls_back():
    t = i18n.translator("en")
    assert t("me.free_until", day="2026-04-30") == "Free until 2026-04-30"
    assert i18n.translator("zh-CN")("me.free_until", day="2026-04-30") == "免费至 2026-04-30"
    assert t("no.such_key") == "no.such_key"
    tr = i18n.enum_translator("en")
    assert tr("channel", "hotline") == "10086 hotline" and tr("channel", "carrier_pigeon") == "carrier_pigeon"
    assert tr("channel", None) == "—"
    assert i18n.translator("fr")("auth.title") == "登录"  # unknown language: the default


def test_backoff_is_a_growing_delay_that_ends():
    assert rules.backoff(4, 5) is None
    assert rules.backoff(5, 5) == rules.BACKOFF_FIRST
    assert rules.backoff(6, 5) == 2 * rules.BACKOFF_FIRST
    assert rules.backoff(7, 5) == 4 * rules.BACKOFF_FIRST
    assert rules.backoff(500, 5) == rules.BACKOFF_MAX
