"""Parsing what subscribers text to 10086 (R5): exact cases and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.subscriptions.commands import (
    ConfirmCode,
    MenuChoice,
    Query,
    Unknown,
    UnsubscribeAll,
    UnsubscribeCode,
    parse_10086,
    parse_keyword,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0000", Query()),
        (" 0000 ", Query()),
        ("００００", Query()),  # full-width digits from a Chinese IME
        ("00000", UnsubscribeAll()),
        ("TDSINA-NEWS", UnsubscribeCode("SINA-NEWS")),
        ("td sina-news", UnsubscribeCode("SINA-NEWS")),
        ("ＴＤ１２３", UnsubscribeCode("123")),
        ("1", MenuChoice((1,))),
        ("1 3", MenuChoice((1, 3))),
        ("1,3，2、3", MenuChoice((1, 3, 2))),
        ("123456", ConfirmCode("123456")),
        ("000000", ConfirmCode("000000")),
        ("", Unknown("empty")),
        ("   ", Unknown("empty")),
        ("x" * 161, Unknown("too_long")),
        ("hello", Unknown("unrecognised")),
        ("退订", Unknown("unrecognised")),
        ("0", Unknown("unrecognised")),
        ("1234", Unknown("unrecognised")),
        ("1234567", Unknown("unrecognised")),
        ("TD", Unknown("unrecognised")),
        ("٣", Unknown("unrecognised")),  # Arabic-Indic digit is not a menu number
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse_10086(text) == expected


@given(st.text(max_size=300))
def test_parse_never_raises_and_is_total(text: str) -> None:
    result = parse_10086(text)
    assert isinstance(result, (Query, UnsubscribeAll, UnsubscribeCode, MenuChoice, ConfirmCode, Unknown))
    if isinstance(result, MenuChoice):
        assert result.numbers and all(1 <= n <= 999 for n in result.numbers)
    if isinstance(result, ConfirmCode):
        assert len(result.code) == 6 and result.code.isascii() and result.code.isdigit()


def test_keyword() -> None:
    assert parse_keyword(" xw  today") == "XW"
    assert parse_keyword("") == ""
