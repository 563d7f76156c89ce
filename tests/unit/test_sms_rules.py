"""SMS lengths and parts: 70 UCS-2 units single, 67 per concatenated part, "(i/n)" numbering."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mingbai.messaging.rules import numbered_parts, split_concatenated, ucs2_units


def test_single_and_concatenated() -> None:
    assert split_concatenated("中" * 70) == ["中" * 70]
    parts = split_concatenated("中" * 71)
    assert [len(p) for p in parts] == [67, 4]
    assert split_concatenated("") == [""]


def test_surrogate_pairs_are_not_cut() -> None:
    text = "中" * 66 + "🙂" + "中" * 10
    parts = split_concatenated(text)
    assert parts[0] == "中" * 66  # the emoji (2 units) would make 68
    assert "".join(parts) == text


def test_numbered_parts_follow_the_seed() -> None:
    head = "中国移动温馨提示:您本月已定制以下梦网业务:"
    items = ";".join(f"{i}.新浪提供的头条新闻短信业务,信息费5元/月" for i in range(1, 4))
    text = head + items + "。本月内退订下月不再收费,退订请拨打10086或发送0000到10086。"
    parts = numbered_parts(text)
    n = len(parts)
    assert n >= 2
    for k, p in enumerate(parts, start=1):
        assert p.startswith(f"({k}/{n})") and ucs2_units(p) <= 70
    assert "".join(p.split(")", 1)[1] for p in parts) == text


@given(st.text(max_size=600))
def test_parts_rebuild_the_text(text: str) -> None:
    parts = split_concatenated(text)
    assert "".join(parts) == text
    if len(parts) > 1:
        assert all(ucs2_units(p) <= 67 for p in parts)
    numbered = numbered_parts(text)
    assert all(ucs2_units(p) <= 70 for p in numbered) or len(numbered) == 1
    if len(numbered) > 1:
        n = len(numbered)
        assert "".join(p[len(f"({k}/{n})") :] for k, p in enumerate(numbered, start=1)) == text
