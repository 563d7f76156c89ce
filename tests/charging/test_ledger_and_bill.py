"""Balances, recharge cards, points, the new bill, the entry reminder and the tariff advisor."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from mingbai.catalog.rules import SubscriberIn
from mingbai.catalog.service import save_subscriber
from mingbai.charging.bill import advise_subscriber, bill
from mingbai.charging.billing import run_billing
from mingbai.charging.ledger import add_points, balance, credit, issue_cards, recharge_with_card
from mingbai.charging.rules import parse_billing_period
from mingbai.charging.service import activate
from mingbai.charging.usage import import_usage
from mingbai.clock import SHANGHAI
from mingbai.errors import Conflict, InvalidInput, NotFound
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE, BOB

APRIL = parse_billing_period("2026-04")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_cards_recharge_once_within_their_validity(platform, clock):
    with platform.uow() as ctx:
        (new,) = issue_cards(ctx, card_numbers=["1000000000000001"], face_value_fen=5000, issued_on=date(2024, 3, 1))
        (old,) = issue_cards(
            ctx,
            card_numbers=["1000000000000002"],
            face_value_fen=3000,
            issued_on=date(2011, 5, 1),
            printed_expiry=date(2013, 4, 30),
        )
        (gone,) = issue_cards(ctx, card_numbers=["1000000000000003"], face_value_fen=3000, issued_on=date(2020, 1, 1))
    assert new.expires_on == date(2029, 2, 28) and old.expires_on == date(2016, 4, 30)
    with platform.uow() as ctx:
        got = recharge_with_card(ctx, msisdn=ALICE, card_no=new.card_no, channel="hall", actor="hall:li")
    assert (got.kind, got.amount_fen, got.ref) == ("recharge", 5000, new.card_no)
    with platform.uow() as ctx, pytest.raises(Conflict, match="already been used"):
        recharge_with_card(ctx, msisdn=BOB, card_no=new.card_no, channel="hall", actor="hall:li")
    with platform.uow() as ctx, pytest.raises(Conflict, match="expired on 2016-04-30"):
        recharge_with_card(ctx, msisdn=ALICE, card_no=old.card_no, channel="hall", actor="hall:li")
    with platform.uow() as ctx, pytest.raises(Conflict, match="expired on 2024-12-31"):
        recharge_with_card(ctx, msisdn=ALICE, card_no=gone.card_no, channel="hall", actor="hall:li")
    with platform.uow() as ctx:
        b = balance(ctx, msisdn=ALICE)
    assert (b.balance_fen, b.points) == (5000, 50)


def test_a_payment_reference_is_credited_once(platform):
    with platform.uow() as ctx:
        first = credit(ctx, msisdn=ALICE, kind="payment", amount_fen=2000, channel="bank", actor="bank", ref="B-77")
    with platform.uow() as ctx:
        again = credit(ctx, msisdn=ALICE, kind="payment", amount_fen=2000, channel="bank", actor="bank", ref="B-77")
    assert first.created and not again.created and again.id == first.id
    with platform.uow() as ctx, pytest.raises(Conflict):
        credit(ctx, msisdn=ALICE, kind="payment", amount_fen=3000, channel="bank", actor="bank", ref="B-77")
    with platform.uow() as ctx, pytest.raises(InvalidInput):
        credit(ctx, msisdn=ALICE, kind="bonus", amount_fen=1, channel="x", actor="x")
    with platform.uow() as ctx:
        assert balance(ctx, msisdn=ALICE).balance_fen == 2000


def test_a_short_balance_records_the_charge_as_owed_never_loses_it(platform, clock):
    clock.set(sh(2026, 3, 20, 10))
    with platform.uow() as ctx:
        credit(ctx, msisdn=ALICE, kind="payment", amount_fen=300, channel="hall", actor="hall:li", ref="P1")
    add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 2), first_charge_on=date(2026, 2, 2)
    )
    clock.set(sh(2026, 4, 1, 0, 5))
    run_billing(platform, APRIL, actor="test")
    with platform.uow() as ctx:
        b = balance(ctx, msisdn=ALICE)
    assert (b.balance_fen, b.owed_fen, b.charges_fen) == (0, 200, 500)
    assert list(b.owed_by_charge.values()) == [200]
    clock.set(sh(2026, 4, 5, 10))
    with platform.uow() as ctx:
        credit(ctx, msisdn=ALICE, kind="gift", amount_fen=1000, channel="system", actor="promo", ref="SPRING")
        b = balance(ctx, msisdn=ALICE)
    assert (b.balance_fen, b.owed_fen) == (800, 0)  # the gift paid what was owed first


def test_the_bill_shows_every_item_of_the_new_bill(platform, clock):
    with platform.uow() as ctx:
        save_subscriber(ctx, SubscriberIn(msisdn=ALICE, brand="gotone", province="湖南", package="GT58"))
        issue_cards(ctx, card_numbers=["2000000000000001"], face_value_fen=10000, issued_on=date(2025, 1, 1))
    add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 2), first_charge_on=date(2026, 2, 2)
    )
    add_subscription(
        platform, msisdn=ALICE, service="QQ-GAME", confirmed_at=sh(2026, 2, 2), first_charge_on=date(2026, 2, 2)
    )
    clock.set(sh(2026, 3, 31, 12))
    with platform.uow() as ctx:
        credit(ctx, msisdn=ALICE, kind="payment", amount_fen=1000, channel="hall", actor="hall", ref="MARCH")
    clock.set(sh(2026, 4, 1, 0, 5))
    run_billing(platform, APRIL, actor="test")
    clock.set(sh(2026, 4, 3, 10))
    with platform.uow() as ctx:
        recharge_with_card(ctx, msisdn=ALICE, card_no="2000000000000001", channel="sms", actor="subscriber")
        credit(
            ctx, msisdn=ALICE, kind="return", amount_fen=150, channel="system", actor="ops", ref="R1", note="话费返还"
        )
        add_points(ctx, msisdn=ALICE, delta=-30, reason="积分兑换")
    clock.set(sh(2026, 4, 12, 10))
    usage = (
        "record_id,msisdn,used_at,kind,service_code,quantity,roaming\n"
        "G1,13800138000,2026-04-04T20:00:00+08:00,vas,QQ-GAME,2,\n"
        "V1,13800138000,2026-04-05T09:00:00+08:00,voice,,9000,\n"
        "S1,13800138000,2026-04-05T09:10:00+08:00,sms,,70,\n"
        "D1,13800138000,2026-04-06T09:00:00+08:00,data,,614400,\n"
        "D2,13800138000,2026-04-07T09:00:00+08:00,data,,10240,abroad\n"
    )
    with platform.uow() as ctx:
        import_usage(ctx, usage.encode(), filename="u.csv", actor="test")
    with platform.uow() as ctx:
        b = bill(ctx, msisdn=ALICE, period="2026-04")
    assert (b.period_zh, b.first_day, b.last_day) == ("2026年4月", date(2026, 4, 1), date(2026, 4, 12))
    assert (b.opening_balance_fen, b.opening_owed_fen) == (1000, 0)
    assert [(c.kind, c.amount_fen) for c in b.recharges_and_payments] == [("recharge", 10000)]
    assert [(c.kind, c.amount_fen, c.note) for c in b.gifts_and_returns] == [("return", 150, "话费返还")]
    # package usage: GT58 has 150 min, 60 SMS, 500 MB; 150 min used, 70 SMS, 600 MB at home
    lines = {line.item: line for line in b.package.lines}
    assert (lines["voice"].used, lines["voice"].over) == (150, 0)
    assert (lines["sms"].used, lines["sms"].over, lines["sms"].over_fen) == (70, 10, 100)
    assert (lines["data"].used, lines["data"].over, lines["data"].over_fen) == (600, 100, 2900)
    assert b.package.abroad_data_mb == 10.0 and b.package.package_name == "全球通上网套餐58元"
    assert b.package.total_fen == 5800 + 100 + 2900
    # points: 10 for the March payment; +100 for the card, −30 redeemed in April
    assert (b.points_opening, [p.delta for p in b.points_changes], b.points_closing) == (10, [100, -30], 80)
    # third-party charges per SP and service with dates
    assert [(s.sp_code, s.total_fen) for s in b.third_party] == [("SINA", 500), ("TENCENT", 400)]
    (news,) = b.third_party[0].services
    assert [(i.day, i.kind, i.amount_fen) for i in news.items] == [(date(2026, 4, 1), "monthly", 500)]
    (game,) = b.third_party[1].services
    assert [(i.day, i.kind, i.quantity, i.amount_fen) for i in game.items] == [(date(2026, 4, 4), "per_use", 2, 400)]
    assert b.third_party_total_fen == 900
    assert b.closing_balance_fen == 1000 - 500 + 10000 + 150 - 400
    with platform.uow() as ctx, pytest.raises(InvalidInput, match="has not begun"):
        bill(ctx, msisdn=ALICE, period="2026-05")


def test_activation_sends_the_entry_reminder(platform, clock):
    with platform.uow() as ctx:
        done = activate(ctx, msisdn="15900159000", brand="全球通", province="湖南", city="长沙", package_code="gt58")
    assert done.package_code == "GT58" and done.reminder_outbox_id
    platform.deliver()
    (text,) = ["".join(d.parts) for d in platform.gateway.delivered if d.recipient == "15900159000"]
    assert "【入网提醒】" in text and "159****9000" in text and "品牌全球通" in text
    assert "全球通上网套餐58元(月费58元,含国内通话150分钟、短信60条、国内流量500MB" in text
    assert "已订购的增值业务:无" in text
    with platform.uow() as ctx, pytest.raises(Conflict):
        activate(ctx, msisdn="15900159000", brand="gotone", province="湖南")
    with platform.uow() as ctx, pytest.raises(InvalidInput, match="unknown package"):
        activate(ctx, msisdn="15900159001", brand="gotone", province="湖南", package_code="GT999")


def test_advisor_uses_the_last_three_whole_months(platform, clock):
    with platform.uow() as ctx:
        save_subscriber(ctx, SubscriberIn(msisdn=BOB, brand="gotone", province="湖南", package="GT58"))
    with platform.uow() as ctx, pytest.raises(NotFound, match="no usage"):
        advise_subscriber(ctx, msisdn=BOB)
    lines = ["record_id,msisdn,used_at,kind,service_code,quantity,roaming"]
    for month in (1, 2, 3, 4):  # April is the running month: not counted
        lines.append(f"V{month},13900139000,2026-{month:02d}-05T10:00:00+08:00,voice,,{400 * 60},")
        lines.append(f"D{month},13900139000,2026-{month:02d}-05T11:00:00+08:00,data,,{50 * 1024},")
    with platform.uow() as ctx:
        import_usage(ctx, ("\n".join(lines) + "\n").encode(), filename="cdr.csv", actor="test")
    with platform.uow() as ctx:
        result = advise_subscriber(ctx, msisdn=BOB)
    a = result.advice
    assert a.periods == ["2026-01", "2026-02", "2026-03"]
    assert (a.current_code, a.best_code, a.saving_fen) == ("GT58", "GT88", 3 * 1750)
    assert "建议改用全球通商旅套餐88元" in result.summary and "节省52.5元" in result.summary
