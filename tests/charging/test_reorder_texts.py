"""A monthly re-order after the trial owes this month's fee at confirmation (issue 13): both
texts say so before and after, and the charge is dated when it was raised, not on the 1st."""

from __future__ import annotations

from datetime import date, timedelta

from mingbai.charging.bill import bill
from mingbai.charging.service import list_charges
from mingbai.clock import local_date
from tests.helpers import ALICE, last_delivered, order, subscribe


def test_reorder_texts_say_the_month_is_charged_and_the_charge_is_dated_then(platform, clock, gateway):
    platform.tick()
    first = subscribe(platform)  # 04-10: first order, April free
    assert "当月免信息费" in first
    platform.receive_sms(ALICE, "10086", "TDSINA-NEWS")
    clock.advance(timedelta(days=5))  # 04-15
    _, code = order(platform)
    request = last_delivered(platform, ALICE)
    assert "确认即收本月5元" in request and "不再免费体验" in request, request
    confirmed_at = clock.now()
    result = platform.receive_sms(ALICE, "10086", code)
    reminder = result.replies[-1].text
    assert "本月5元已于确认时收取" in reminder and "不再免费体验" in reminder and "免信息费" not in reminder
    clock.advance(timedelta(seconds=5))
    assert platform.tick().extra["billing_catchup"] == 1
    with platform.uow() as ctx:
        (charge,) = list_charges(ctx, msisdn=ALICE)
        april = bill(ctx, msisdn=ALICE, period="2026-04")
    assert charge.occurred_at == confirmed_at and local_date(charge.occurred_at) == date(2026, 4, 15)
    (item,) = [i for sp in april.third_party for s in sp.services for i in s.items]
    assert item.day == date(2026, 4, 15)
