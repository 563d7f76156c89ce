from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.catalog.rules import parse_catalog_document, price_text, reminder_label, yuan
from mingbai.errors import InvalidInput
from mingbai.msisdn import mask_msisdn, normalize_msisdn


def test_money_wording() -> None:
    assert yuan(3000) == "30" and yuan(250) == "2.5" and yuan(5) == "0.05" and yuan(0) == "0"
    assert price_text("monthly", 3000) == "信息费30元/月"
    assert price_text("per_use", 100) == "信息费1元/条"
    assert price_text("free", 0) == "免费"
    assert reminder_label("新浪", "头条新闻", "sms", "monthly", 3000) == "新浪提供的头条新闻短信业务,信息费30元/月"


def test_msisdn() -> None:
    assert normalize_msisdn("+86 138-0013-8000") == "13800138000"
    assert mask_msisdn("13800138000") == "138****8000"
    for bad in ["", "12800138000", "1380013800", "138001380001", "abc", "+1 13800138000"]:
        with pytest.raises(InvalidInput):
            normalize_msisdn(bad)


def doc(**over: object) -> dict[str, object]:
    d: dict[str, object] = {
        "sps": [{"code": "S1", "name": "SP", "hotline": "100"}],
        "services": [{"code": "X", "sp": "S1", "name": "n", "type": "sms", "billing": "monthly", "price_fen": 100}],
        "subscribers": [{"msisdn": "13800138000", "brand": "全球通", "province": "湖南"}],
    }
    d.update(over)
    return d


def test_document_ok_and_brand_alias() -> None:
    parsed = parse_catalog_document(doc())
    assert parsed.subscribers[0].brand == "gotone"


@pytest.mark.parametrize(
    ("over", "where"),
    [
        (
            {"services": [{"code": "X", "sp": "S1", "name": "n", "billing": "yearly", "price_fen": 1}]},
            "services[0].billing",
        ),
        (
            {"services": [{"code": "X", "sp": "S1", "name": "n", "billing": "monthly", "price_fen": -1}]},
            "services[0].price_fen",
        ),
        ({"subscribers": [{"msisdn": "123", "province": "湖南"}]}, "subscribers[0].msisdn"),
        (
            {"sps": [{"code": "S1", "name": "a", "hotline": "100"}, {"code": "S1", "name": "b", "hotline": "100"}]},
            "sps[1]: duplicate of sps[0]",
        ),
        (
            {"subscribers": [{"msisdn": "13800138000", "province": "湖南", "package": "NOPE"}]},
            "subscribers[0].package: unknown package 'NOPE'",
        ),
        (
            {
                "subscribers": [
                    {"msisdn": "13800138000", "province": "湖南", "package": "GT58"},
                    {"msisdn": "13800138001", "province": "湖南", "package": "全球通88"},
                ]
            },
            "subscribers[1].package: unknown package '全球通88'",
        ),
        (
            {"services": [{"code": "X", "sp": "S1", "name": "n", "type": "fax", "billing": "free", "price_fen": 0}]},
            "services[0].type",
        ),
        ({"sps": "nope"}, "sps must be a list"),
        ({"extra": []}, "unknown top-level keys"),
    ],
)
def test_document_errors_name_the_record(over: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_catalog_document(doc(**over))
    assert where in info.value.message


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("SMS", "sms"),
        ("MMS", "mms"),
        ("WAP", "wap"),
        (" Kjava ", "kjava"),
        ("短信", "sms"),
        ("彩信", "mms"),
        ("百宝箱", "kjava"),
        ("手机动画", "animation"),
        ("语音", "voice"),
    ],
)
def test_service_types_are_read_in_any_case_and_by_their_chinese_names(written: str, stored: str) -> None:
    service = {"code": "X", "sp": "S1", "name": "n", "type": written, "billing": "free", "price_fen": 0}
    assert parse_catalog_document(doc(services=[service])).services[0].type == stored


def test_packages_are_the_ones_activate_knows() -> None:
    subs = [
        {"msisdn": "13800138000", "province": "湖南", "package": "gt58"},
        {"msisdn": "13800138001", "province": "湖南", "package": "全球通商旅套餐88元"},
        {"msisdn": "13800138002", "province": "湖南", "package": ""},
    ]
    parsed = parse_catalog_document(doc(subscribers=subs))
    assert [s.package for s in parsed.subscribers] == ["GT58", "GT88", None]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_is_accepted_or_refused_clearly(raw: object) -> None:
    try:
        parse_catalog_document(raw)
    except InvalidInput as exc:
        assert exc.message


def test_yuan_negative_and_cents() -> None:
    # divmod of a negative amount once gave "-1.95" for -5 fen
    assert yuan(-5) == "-0.05" and yuan(-250) == "-2.5" and yuan(-3000) == "-30"
    assert yuan(3000, cents=True) == "30.00" and yuan(250, cents=True) == "2.50" and yuan(5, cents=True) == "0.05"
    assert yuan(0, cents=True) == "0.00" and yuan(-5, cents=True) == "-0.05"
    for fen in range(-1000, 1000):
        assert yuan(fen, cents=True) == f"{fen / 100:.2f}"  # what the consoles' filter wrote before
