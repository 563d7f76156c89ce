"""Order → confirmation code → subscription → "0000" → unsubscribe, end to end through SMS."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.sealing import REDACTED
from mingbai.subscriptions.service import list_subscriptions, place_order
from tests.helpers import ALICE, BOB, code_from, last_delivered, order, owner_uow, received, subscribe


def test_order_needs_confirmation_then_subscribes_with_trial(platform):
    placed, code = order(platform)
    assert placed.status == "pending"
    with platform.uow() as ctx:
        assert list_subscriptions(ctx, msisdn=ALICE) == []  # nothing before the subscriber says yes
    result = platform.receive_sms(ALICE, "10086", code)
    assert result.handled_as == "code_confirmed"
    reminder = result.replies[-1].text
    assert "您已定制试用新浪的头条新闻业务" in reminder and "信息费5元/月" in reminder
    assert "当月免信息费" in reminder and "9510567" in reminder and "10086" in reminder
    with platform.uow() as ctx:
        (sub,) = list_subscriptions(ctx, msisdn=ALICE)
    assert sub.status == "active" and sub.trial and sub.first_charge_on == date(2026, 5, 1)
    assert sub.channel == "sp" and sub.price_fen == 500


def test_code_is_single_use(platform):
    _, code = order(platform)
    assert platform.receive_sms(ALICE, "10086", code).handled_as == "code_confirmed"
    again = platform.receive_sms(ALICE, "10086", code)
    assert again.handled_as == "code_no_pending"
    assert "没有待确认的订购" in again.replies[-1].text


def test_wrong_code_then_lockout(platform):
    _, code = order(platform)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        r = platform.receive_sms(ALICE, "10086", wrong)
        assert r.handled_as == "code_wrong"
        assert f"还可以尝试{left}次" in r.replies[-1].text
    r = platform.receive_sms(ALICE, "10086", wrong)
    assert r.handled_as == "code_locked" and "已取消" in r.replies[-1].text
    # the right code no longer works: the order failed
    assert platform.receive_sms(ALICE, "10086", code).handled_as == "code_no_pending"
    with platform.uow() as ctx:
        assert list_subscriptions(ctx, msisdn=ALICE) == []


def test_expired_code_gets_clear_answer(platform, clock):
    _, code = order(platform)
    clock.advance(timedelta(minutes=31))
    assert platform.tick().expired_orders == 1
    r = platform.receive_sms(ALICE, "10086", code)
    assert r.handled_as == "code_expired"
    assert "验证码已过期" in r.replies[-1].text and "头条新闻" in r.replies[-1].text


def test_expired_before_tick_is_still_refused(platform, clock):
    _, code = order(platform)
    clock.advance(timedelta(minutes=30, seconds=1))
    assert platform.receive_sms(ALICE, "10086", code).handled_as == "code_expired"


def test_second_order_of_same_service_gets_no_trial(platform):
    subscribe(platform)
    platform.receive_sms(ALICE, "10086", "TDSINA-NEWS")
    _, code = order(platform)
    reply = platform.receive_sms(ALICE, "10086", code).replies[-1].text
    assert "试用" not in reply and "免信息费" not in reply
    with platform.uow() as ctx:
        subs = list_subscriptions(ctx, msisdn=ALICE)
    assert [s.status for s in subs] == ["unsubscribed", "active"]
    assert subs[1].trial is False and subs[1].first_charge_on == date(2026, 4, 10)


def test_query_and_unsubscribe_by_number(platform):
    subscribe(platform, service="SINA-NEWS")
    subscribe(platform, service="QQ-TONES")
    subscribe(platform, service="SOHU-MMS")
    menu = platform.receive_sms(ALICE, "10086", "0000").replies[-1].text
    assert "1.新浪提供的头条新闻短信业务,信息费5元/月" in menu
    assert "2.腾讯公司提供的精品图铃WAP业务,信息费3元/月" in menu
    assert "3.搜狐提供的彩信杂志彩信业务,信息费10元/月" in menu
    r = platform.receive_sms(ALICE, "10086", "1 3")
    assert r.handled_as == "unsubscribe"
    assert "头条新闻" in r.replies[-1].text and "彩信杂志" in r.replies[-1].text
    with platform.uow() as ctx:
        active = [s.service_code for s in list_subscriptions(ctx, msisdn=ALICE, active_only=True)]
    assert active == ["QQ-TONES"]
    # the old menu's "1" now points at an ended subscription
    assert platform.receive_sms(ALICE, "10086", "1").handled_as == "menu_stale"
    assert platform.receive_sms(ALICE, "10086", "9").handled_as == "menu_out_of_range"


def test_unsubscribe_all_and_td(platform):
    subscribe(platform, service="SINA-NEWS")
    subscribe(platform, service="QQ-TONES")
    r = platform.receive_sms(ALICE, "10086", "td qq-tones")
    assert r.handled_as == "unsubscribe_code" and "精品图铃" in r.replies[-1].text
    r = platform.receive_sms(ALICE, "10086", "00000")
    assert "头条新闻" in r.replies[-1].text
    assert "没有订购" in platform.receive_sms(ALICE, "10086", "0000").replies[-1].text
    assert platform.receive_sms(ALICE, "10086", "TDSINA-NEWS").replies[-1].text.startswith("您未订购")


def test_menu_requires_query_first(platform):
    assert platform.receive_sms(ALICE, "10086", "1").handled_as == "menu_missing"


def test_sp_keyword_order_via_sms(platform):
    r = platform.receive_sms(BOB, "10668888", "xw")
    assert r.handled_as == "sp_order"
    assert r.replies[-1].text == REDACTED  # the code is on the phone only
    code = code_from(received(platform, r.replies[-1]))
    assert platform.receive_sms(BOB, "10086", code).handled_as == "code_confirmed"
    with platform.uow() as ctx:
        (sub,) = list_subscriptions(ctx, msisdn=BOB)
    assert sub.channel == "sms"
    assert platform.receive_sms(BOB, "10668888", "nonsense").handled_as == "sp_keyword_unknown"


def test_gift_order_names_gifter(platform):
    placed, code = order(platform, gifter=BOB)
    assert placed.gifter == BOB
    gifter_code = code_from(last_delivered(platform, BOB))  # the gifter confirms paying (issue 13)
    platform.receive_sms(ALICE, "10086", code)
    platform.receive_sms(BOB, "10086", gifter_code)
    with platform.uow() as ctx:
        (sub,) = list_subscriptions(ctx, msisdn=ALICE)
    assert sub.gifter == BOB


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"msisdn": "1380013800"}, InvalidInput, "bad_msisdn"),
        ({"msisdn": "abc"}, InvalidInput, "bad_msisdn"),
        ({"service_code": "NOPE"}, NotFound, "unknown_service"),
        ({"msisdn": "13500135000"}, NotFound, "unknown_subscriber"),
        ({"channel": "fax"}, InvalidInput, "bad_channel"),
        ({"gifter": ALICE}, InvalidInput, "bad_gifter"),
    ],
)
def test_bad_orders_are_refused_clearly(platform, kwargs, error, code):
    args = {"msisdn": ALICE, "service_code": "SINA-NEWS", "channel": "sp", "actor": "test"} | kwargs
    with pytest.raises(error) as info, platform.uow() as ctx:
        place_order(ctx, **args)
    assert info.value.code == code


def test_duplicate_and_suspended(platform):
    order(platform)
    with pytest.raises(Conflict, match="waiting"), platform.uow() as ctx:
        place_order(ctx, msisdn=ALICE, service_code="SINA-NEWS", channel="sp", actor="t")
    with platform.uow() as ctx:
        ctx.session.execute(text("UPDATE sp SET status = 'suspended' WHERE code = 'TENCENT'"))
    with pytest.raises(Conflict) as info, platform.uow() as ctx:
        place_order(ctx, msisdn=ALICE, service_code="QQ-TONES", channel="sp", actor="t")
    assert info.value.code == "sp_suspended"


def test_suspension_between_order_and_confirmation_refuses(platform):
    _, code = order(platform, service="QQ-TONES")
    with platform.uow() as ctx:
        ctx.session.execute(text("UPDATE sp SET status = 'suspended' WHERE code = 'TENCENT'"))
    r = platform.receive_sms(ALICE, "10086", code)
    assert r.handled_as == "code_refused" and "暂停" in r.replies[-1].text


@pytest.mark.parametrize("body", ["", "   ", "x" * 1000, "hello", "你好", "🙂", "TD", "0", "12345678"])
def test_odd_sms_get_help_and_are_kept(platform, body):
    r = platform.receive_sms(ALICE, "10086", body)
    assert r.handled_as in ("help", "menu_missing")
    assert r.replies and "0000" in r.replies[-1].text
    with platform.uow() as ctx:
        kept = ctx.session.execute(text("SELECT text FROM mo_message WHERE id = :i"), {"i": r.mo_id}).scalar_one()
    assert kept == body


def test_bad_sender_is_refused(platform):
    with pytest.raises(InvalidInput):
        platform.receive_sms("12345", "10086", "0000")
    with pytest.raises(InvalidInput):
        platform.receive_sms(ALICE, "not-a-number", "0000")


def test_events_are_append_only(platform):
    """The platform's own role may not (PostgreSQL: no privilege), and the owner's role neither
    (the trigger; SQLite has only this one)."""
    subscribe(platform)
    own_role = "append-only|permission denied for table subscription_event"
    for uow, refused in ((platform.uow, own_role), (lambda: owner_uow(platform), "append-only")):
        with pytest.raises(Exception, match=refused), uow() as ctx:
            ctx.session.execute(text("UPDATE subscription_event SET kind = 'x'"))
        with pytest.raises(Exception, match=refused), uow() as ctx:
            ctx.session.execute(text("DELETE FROM subscription_event"))


def test_history_records_who_and_channel(platform):
    subscribe(platform)
    platform.receive_sms(ALICE, "10086", "00000")
    from mingbai.subscriptions.service import history

    with platform.uow() as ctx:
        kinds = [(e.kind, e.channel) for e in history(ctx, msisdn=ALICE)]
    assert kinds == [("order_placed", "sp"), ("order_confirmed", "sms"), ("subscribed", "sp"), ("unsubscribed", "sms")]


def test_a_failing_handler_loses_nothing(platform, monkeypatch):
    """A bug in a handler rolls back its work, but the MO is kept and the subscriber answered."""
    subscribe(platform)

    def boom(ctx, mo):
        from mingbai.subscriptions.service import unsubscribe

        unsubscribe(ctx, msisdn=mo.msisdn, channel="sms", actor="t")  # work that must not survive
        raise RuntimeError("handler bug")

    monkeypatch.setitem(platform.router._exact, "10086", boom)
    r = platform.receive_sms(ALICE, "10086", "00000")
    assert r.handled_as == "failed" and "已记录" in r.replies[-1].text
    with platform.uow() as ctx:
        assert [s.status for s in list_subscriptions(ctx, msisdn=ALICE)] == ["active"]
        kept = ctx.session.execute(text("SELECT handled_as FROM mo_message WHERE id = :i"), {"i": r.mo_id}).scalar_one()
    assert kept == "failed"


def test_each_subscription_carries_only_its_own_history(platform):
    subscribe(platform)
    platform.receive_sms(ALICE, "10086", "00000")
    subscribe(platform)  # the same service again: a second subscription with its own order
    from mingbai.subscriptions.service import subscriptions_with_history

    with platform.uow() as ctx:
        (first, first_events), (second, second_events) = subscriptions_with_history(ctx, msisdn=ALICE)
    assert [e.kind for e in first_events] == ["order_placed", "order_confirmed", "subscribed", "unsubscribed"]
    assert [e.kind for e in second_events] == ["order_placed", "order_confirmed", "subscribed"]
    assert {e.order_id for e in second_events} == {second.order_id} != {first.order_id}


def test_the_phone_shows_the_mo_before_its_reply(platform, clock):
    from mingbai.messaging.service import conversation

    class Ticking:
        """A clock that moves a millisecond every time it is read, like a real one."""

        def __init__(self, start):
            self.t = start

        def now(self):
            self.t += timedelta(milliseconds=1)
            return self.t

    platform.clock = Ticking(clock.now())
    platform.receive_sms(ALICE, "10086", "0000")
    with platform.uow() as ctx:
        thread = conversation(ctx, ALICE)
    assert [m.direction for m in thread] == ["mo", "mt"]


def test_replies_at_an_sp_access_number_are_true_about_active_subscriptions(platform):
    """Issue 13: "TD" to 10668888 must not say nothing is ordered while SINA-NEWS is active;
    "XW" when subscribed must not say "不会收费" without saying the subscription is active."""
    empty = platform.receive_sms(BOB, "10668888", "TD").replies[-1].text
    assert "您未订购新浪的业务" in empty
    subscribe(platform, BOB)
    td = platform.receive_sms(BOB, "10668888", "TD")
    assert td.handled_as == "sp_keyword_unknown"
    text = td.replies[-1].text
    assert "未订购任何业务" not in text and "头条新闻" in text and "仍然有效" in text and "0000" in text
    xw = platform.receive_sms(BOB, "10668888", "XW")
    assert xw.handled_as == "sp_order_refused"
    text = xw.replies[-1].text
    assert "订购有效" in text and "信息费5元/月" in text and "不会收费" not in text


def test_a_wrong_code_with_several_orders_waiting_names_them(platform):
    """Issue 13: the wrong code counted against every waiting order: the answer says which."""
    order(platform, ALICE, "SINA-NEWS")
    order(platform, ALICE, "QQ-TONES")
    r = platform.receive_sms(ALICE, "10086", "000001")
    assert r.handled_as == "code_wrong"
    text = r.replies[-1].text
    assert "2项订购" in text and "新浪的头条新闻" in text and "腾讯公司的精品图铃" in text and "均未生效" in text
    order(platform, BOB, "SINA-NEWS")
    one = platform.receive_sms(BOB, "10086", "000001").replies[-1].text
    assert "新浪的头条新闻业务" in one and "项订购" not in one
