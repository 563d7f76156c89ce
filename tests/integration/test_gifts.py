"""A gift is paid by its gifter (issue 13): double opt-in — the recipient agrees to receive, the
gifter (one of ours) to pay, each with a code of their own — and every charge path (the monthly
run, the catch-up pass for re-orders, per-use charges) charges and reminds whoever pays."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from mingbai.charging.bill import bill
from mingbai.charging.billing import run_billing
from mingbai.charging.rules import parse_billing_period
from mingbai.charging.service import list_charges
from mingbai.charging.usage import import_usage
from mingbai.clock import SHANGHAI
from mingbai.errors import Conflict, NotFound
from mingbai.subscriptions.service import list_subscriptions, place_order
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE, BOB, code_from, last_delivered, order


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def gift(platform, service: str = "SINA-NEWS") -> tuple[str, str]:
    """BOB gives ALICE ``service``: the two codes, ALICE's (to receive) and BOB's (to pay)."""
    _, alice_code = order(platform, service=service, gifter=BOB)
    bob_text = last_delivered(platform, BOB)
    assert "由您支付" in bob_text and "138****8000" in bob_text  # told the price and for whom
    return alice_code, code_from(bob_text)


def open_gift(platform, service: str = "SINA-NEWS") -> int:
    alice_code, bob_code = gift(platform, service)
    assert platform.receive_sms(ALICE, "10086", alice_code).handled_as == "code_awaiting_other"
    assert platform.receive_sms(BOB, "10086", bob_code).handled_as == "code_confirmed"
    with platform.uow() as ctx:
        (sub,) = list_subscriptions(ctx, msisdn=ALICE)
    return sub.id


def charges(platform, msisdn: str):
    with platform.uow() as ctx:
        return list_charges(ctx, msisdn=msisdn)


@pytest.mark.parametrize("first", [ALICE, BOB], ids=["recipient_first", "gifter_first"])
def test_both_sides_must_confirm_in_either_order(platform, first):
    alice_code, bob_code = gift(platform)
    replies = {ALICE: alice_code, BOB: bob_code}
    second = BOB if first == ALICE else ALICE
    assert platform.receive_sms(first, "10086", replies[first]).handled_as == "code_awaiting_other"
    with platform.uow() as ctx:
        assert list_subscriptions(ctx, msisdn=ALICE) == []  # one side is not enough
    # the same code again: still waiting, not a wrong code
    assert platform.receive_sms(first, "10086", replies[first]).handled_as == "code_awaiting_other"
    assert platform.receive_sms(second, "10086", replies[second]).handled_as == "code_confirmed"
    with platform.uow() as ctx:
        (sub,) = list_subscriptions(ctx, msisdn=ALICE)
        assert list_subscriptions(ctx, msisdn=BOB) == []
    assert sub.gifter == BOB and sub.payer_msisdn == BOB and sub.status == "active"
    assert "由对方支付" in last_delivered(platform, ALICE)
    assert "由您支付" in last_delivered(platform, BOB) and "已开通" in last_delivered(platform, BOB)


def test_one_side_never_confirms_expires_and_nothing_is_charged(platform, clock):
    alice_code, bob_code = gift(platform)
    assert platform.receive_sms(ALICE, "10086", alice_code).handled_as == "code_awaiting_other"
    clock.advance(timedelta(minutes=31))
    assert platform.tick().expired_orders == 2  # both halves
    assert platform.receive_sms(BOB, "10086", bob_code).handled_as == "code_expired"
    with platform.uow() as ctx:
        assert list_subscriptions(ctx, msisdn=ALICE) == []
    clock.set(sh(2026, 6, 1, 0, 0, 1))
    platform.tick()
    assert charges(platform, ALICE) == [] and charges(platform, BOB) == []


def test_a_gifter_locked_out_by_wrong_codes_opens_nothing(platform):
    alice_code, bob_code = gift(platform)
    wrong = "000000" if bob_code != "000000" else "111111"
    for _ in range(5):
        platform.receive_sms(BOB, "10086", wrong)
    assert platform.receive_sms(ALICE, "10086", alice_code).handled_as == "code_refused"
    with platform.uow() as ctx:
        assert list_subscriptions(ctx, msisdn=ALICE) == []


def test_a_gifter_must_be_an_active_subscriber_of_ours(platform):
    with pytest.raises(Conflict) as info, platform.uow() as ctx:
        place_order(ctx, msisdn=ALICE, service_code="SINA-NEWS", channel="sp", actor="t", gifter="13500135000")
    assert info.value.code == "gifter_not_subscriber"
    assert "135****5000" in str(info.value)
    with pytest.raises(NotFound), platform.uow() as ctx:
        place_order(ctx, msisdn="13500135000", service_code="SINA-NEWS", channel="sp", actor="t", gifter=BOB)


def test_a_gifters_pending_consent_is_not_an_order_of_their_own(platform):
    gift(platform)
    _, code = order(platform, msisdn=BOB)  # BOB may still order the same service for himself
    assert platform.receive_sms(BOB, "10086", code).handled_as == "code_confirmed"


def test_monthly_run_charges_and_reminds_the_gifter(platform, clock, gateway):
    sub_id = open_gift(platform)  # 2026-04-10: first order, free until 05-01
    clock.set(sh(2026, 5, 1, 0, 0, 1))
    platform.tick()
    assert charges(platform, ALICE) == []
    (charge,) = charges(platform, BOB)
    assert (charge.subscription_id, charge.period, charge.amount_fen) == (sub_id, "2026-05", 500)
    assert charge.recipient_msisdn == ALICE
    clock.set(sh(2026, 5, 1, 9))
    platform.tick()  # the reminder is due at 08:00
    bob = [t for t in (("".join(d.parts)) for d in gateway.delivered if d.recipient == BOB) if "扣费提醒" in t]
    alice = [t for t in (("".join(d.parts)) for d in gateway.delivered if d.recipient == ALICE) if "扣费提醒" in t]
    assert alice == [] and len(bob) == 1 and "您为138****8000订购的" in bob[0]
    # the gifter's bill carries it; the recipient's does not
    with platform.uow() as ctx:
        b, a = bill(ctx, msisdn=BOB, period="2026-05"), bill(ctx, msisdn=ALICE, period="2026-05")
    assert b.third_party_total_fen == 500 and a.third_party_total_fen == 0
    # a rerun raises nothing twice
    assert run_billing(platform, parse_billing_period("2026-05"), actor="t").charged == 0


def test_catch_up_charges_a_regifted_reorder_to_the_gifter(platform, clock):
    open_gift(platform)
    platform.receive_sms(ALICE, "10086", "TDSINA-NEWS")  # the recipient can still stop it
    with platform.uow() as ctx:
        (sub,) = list_subscriptions(ctx, msisdn=ALICE)
    assert sub.status == "unsubscribed"
    platform.tick()
    clock.advance(timedelta(hours=1))
    alice_code, bob_code = gift(platform)
    platform.receive_sms(BOB, "10086", bob_code)
    assert platform.receive_sms(ALICE, "10086", alice_code).handled_as == "code_confirmed"  # a re-order: owes April
    clock.advance(timedelta(seconds=5))
    assert platform.tick().extra["billing_catchup"] == 1
    assert charges(platform, ALICE) == []
    (charge,) = charges(platform, BOB)
    assert (charge.period, charge.amount_fen, charge.recipient_msisdn) == ("2026-04", 500, ALICE)


def test_recipients_0000_stops_the_gift(platform, clock):
    open_gift(platform)
    menu = platform.receive_sms(ALICE, "10086", "0000").replies[-1].text
    assert "头条新闻" in menu
    assert platform.receive_sms(ALICE, "10086", "1").handled_as == "unsubscribe"
    clock.set(sh(2026, 5, 1, 0, 0, 1))
    platform.tick()
    assert charges(platform, BOB) == [] and charges(platform, ALICE) == []


def test_per_use_gift_is_charged_to_the_gifter(platform, clock):
    open_gift(platform, service="QQ-GAME")
    clock.advance(timedelta(hours=2))
    used = (clock.now() - timedelta(hours=1)).isoformat()
    data = f"record_id,msisdn,used_at,kind,service_code,quantity,roaming\nr1,{ALICE},{used},vas,QQ-GAME,2,\n".encode()
    with platform.uow() as ctx:
        report = import_usage(ctx, data, filename="u.csv", actor="t")
    assert report.charges == 1
    assert charges(platform, ALICE) == []
    (charge,) = charges(platform, BOB)
    assert (charge.amount_fen, charge.recipient_msisdn) == (400, ALICE)


def test_a_gift_ordered_before_gifters_consented_stays_paid_by_its_recipient(platform, clock):
    # history: a gift its recipient alone agreed to (no payer recorded) is paid by the recipient
    sub_id = add_subscription(
        platform, msisdn=ALICE, service="QQ-TONES", confirmed_at=sh(2026, 2, 2, 9), first_charge_on=date(2026, 3, 1)
    )
    with platform.uow() as ctx:
        ctx.session.execute(text("UPDATE subscription SET gifter = :g WHERE id = :i"), {"g": BOB, "i": sub_id})
    clock.set(sh(2026, 5, 1, 0, 0, 1))
    platform.tick()
    assert [c.period for c in charges(platform, ALICE)] == ["2026-05"]
    assert charges(platform, BOB) == []


def test_one_gifter_paying_for_two_recipients_and_self_is_charged_three_fees(platform, clock):
    """Fees are keyed by the payer: their ids must be distinct per payer, whoever uses them."""
    carol = "13700137000"
    open_gift(platform)  # BOB → ALICE
    _, carol_code = order(platform, msisdn=carol, gifter=BOB)
    bob_code = code_from(last_delivered(platform, BOB))
    platform.receive_sms(carol, "10086", carol_code)
    assert platform.receive_sms(BOB, "10086", bob_code).handled_as == "code_confirmed"
    _, own = order(platform, msisdn=BOB)
    assert platform.receive_sms(BOB, "10086", own).handled_as == "code_confirmed"
    clock.set(sh(2026, 5, 1, 0, 0, 1))
    assert run_billing(platform, parse_billing_period("2026-05"), actor="t").charged == 3
    bob = charges(platform, BOB)
    assert sorted((c.recipient_msisdn or "") for c in bob) == ["", carol, ALICE]
    assert len({c.id for c in bob}) == 3
