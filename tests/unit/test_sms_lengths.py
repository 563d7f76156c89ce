"""Order reminders and confirmation requests fit one SMS wherever the seed's wording would
(issue 13), and keep what R2/R4 require: service, SP, price, hotline, free period, unsubscribe."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from mingbai.catalog.rules import price_text
from mingbai.clock import SHANGHAI
from mingbai.messaging.rules import SINGLE_UCS2, ucs2_units
from mingbai.subscriptions import texts
from mingbai.subscriptions.rules import first_charge_on, trial_wording
from mingbai.subscriptions.texts import ServiceFacts

#: (SP, hotline): the demo's and the longest a real 梦网 SP has (names of 2–6 characters,
#: 5- to 11-digit hotlines)
SPS = [("新浪", "9510567"), ("腾讯公司", "4006700700"), ("搜狐", "4008806699"), ("北京空中网", "01082856600")]
NAMES = ["头条新闻", "天气预报", "精品图铃", "手机游戏点播", "交警信息", "彩信杂志"]
PRICES = [("monthly", 500), ("monthly", 3000), ("monthly", 250), ("per_use", 200), ("free", 0)]
EARLY, LATE = datetime(2026, 4, 10, 10, tzinfo=SHANGHAI), datetime(2026, 4, 21, 10, tzinfo=SHANGHAI)


def _seed_reminder(s: ServiceFacts, free_wording: str) -> str:
    """Seed 004's template, as written there, for the same facts."""
    verb = "定制试用" if free_wording else "定制"
    free = f"{free_wording}," if free_wording else ""
    return f"您已{verb}{s.sp_name}的{s.name}业务,{s.price},由中国移动代收,客服电话{s.sp_hotline},{free}退订请拨打10086。中国移动"


CASES = [
    ServiceFacts("X", name, "sms", billing, price, sp, hotline)
    for (sp, hotline), name, (billing, price) in itertools.product(SPS, NAMES, PRICES)
]


@pytest.mark.parametrize("s", CASES, ids=lambda s: f"{s.sp_name}-{s.name}-{s.billing}-{s.price_fen}")
def test_reminders_and_requests_fit_one_sms_where_the_seed_does(s: ServiceFacts) -> None:
    for at in (EARLY, LATE):
        for first_order in (True, False):
            in_trial = s.billing == "monthly" and first_order
            wording = trial_wording(first_charge_on(s.billing, at, first_order=first_order), at, in_trial=in_trial)
            seed = _seed_reminder(s, wording)
            reminder = texts.order_reminder(s, wording, reorder=not first_order)
            request = texts.confirmation_request(s, "123456", 30, None, reorder=not first_order)
            if ucs2_units(seed) <= SINGLE_UCS2:
                assert ucs2_units(reminder) <= SINGLE_UCS2, reminder
                assert ucs2_units(request) <= SINGLE_UCS2, request
            for text in (reminder, request):
                assert s.sp_name in text and s.name in text and s.sp_hotline in text, text
            assert "123456" in request
            assert "退订" in reminder and "10086" in reminder
            if s.billing == "free":
                assert "信息费" not in reminder + request and "代收" not in reminder + request
                assert "免费" in reminder and "免费" in request
            else:
                assert price_text(s.billing, s.price_fen) in reminder and price_text(s.billing, s.price_fen) in request
            if wording:
                assert wording in reminder


def test_a_monthly_reorder_says_this_months_fee_is_charged_on_confirmation() -> None:
    s = ServiceFacts("SINA-NEWS", "头条新闻", "sms", "monthly", 500, "新浪", "9510567")
    request = texts.confirmation_request(s, "123456", 30, None, reorder=True)
    reminder = texts.order_reminder(s, "", reorder=True)
    assert "确认即收本月5元" in request and "不再免费体验" in request
    assert "本月5元已于确认时收取" in reminder and "不再免费体验" in reminder
    first = texts.confirmation_request(s, "123456", 30, None)
    assert "本月" not in first


def test_free_services_do_not_talk_about_fees() -> None:
    s = ServiceFacts("SOHU-TRAFFIC", "交警信息", "sms", "free", 0, "搜狐", "4008806699")
    for text in (
        texts.order_reminder(s, ""),
        texts.confirmation_request(s, "123456", 30, None),
        texts.unsubscribed([s]),
        texts.unsubscribed([s, s]),
    ):
        assert "信息费" not in text and "收费" not in text and "代收" not in text, text


def test_the_menu_example_fits_the_list() -> None:
    one = texts.query_menu(["新浪提供的头条新闻短信业务,信息费5元/月"])
    assert "1 3" not in one and "回复1退订" in one
    two = texts.query_menu(["a", "b"])
    assert "1 3" not in two and "1 2" in two
    assert "1 3" in texts.query_menu(["a", "b", "c"])


@pytest.mark.parametrize("s", CASES, ids=lambda s: f"{s.sp_name}-{s.name}-{s.billing}-{s.price_fen}")
def test_gift_requests_fit_one_sms_where_the_seed_does_and_say_who_pays(s: ServiceFacts) -> None:
    """Issue 13: the gifter is told the price and that they pay; the recipient that they do not."""
    seed = _seed_reminder(s, "")
    gifter = texts.gift_payment_request(s, "123456", 30, "13800138000")
    recipient = texts.gift_offer(s, "654321", 30, "13900139000")
    opened = [
        texts.gift_opened(s, gifter_side=side, other="13800138000", trial_wording="当月免信息费")
        for side in (True, False)
    ]
    if ucs2_units(seed) <= SINGLE_UCS2:
        for text in (gifter, recipient, *opened):
            assert ucs2_units(text) <= SINGLE_UCS2, text
    assert "123456" in gifter and "138****8000" in gifter and s.name in gifter
    assert "654321" in recipient and "139****9000" in recipient and s.name in recipient
    if s.billing != "free":
        assert s.price in gifter and "由您支付" in gifter
        assert s.price in recipient and "由对方" in recipient
