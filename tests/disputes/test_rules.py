"""The refund decision table, case by case against seed 004's wording (三、退费服务)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.clock import SHANGHAI
from mingbai.disputes import rules
from mingbai.disputes.rules import (
    ChargeFacts,
    MoFact,
    OrderFact,
    Outcome,
    Policy,
    Rule,
    Status,
    SubscriptionFact,
    UsageFact,
    judge,
)

ALICE = "13800138000"
MAY = datetime(2026, 5, 1, tzinfo=SHANGHAI).astimezone(UTC)
CONFIRMED = datetime(2026, 4, 10, 2, tzinfo=UTC)


def confirming(**kw: object) -> MoFact:
    base = {
        "id": 7,
        "msisdn": ALICE,
        "recipient": "10086",
        "text": "123456",
        "received_at": CONFIRMED,
        "handled_as": "code_confirmed",
    }
    return MoFact(**{**base, **kw})  # type: ignore[arg-type]


def monthly(**kw: object) -> ChargeFacts:
    """A May fee of a subscription confirmed by the subscriber's own SMS on 10 April (trial to 30 April)."""
    sub = SubscriptionFact(1, "SINA-NEWS", "active", "monthly", 500, True, date(2026, 5, 1), CONFIRMED, None, 2)
    base = ChargeFacts(
        charge_id=9,
        msisdn=ALICE,
        service_code="SINA-NEWS",
        kind="monthly",
        period="2026-05",
        period_start=MAY,
        amount_fen=500,
        quantity=1,
        occurred_at=MAY,
        usage_ref="",
        subscription=sub,
        order=OrderFact(2, "SINA-NEWS", "confirmed", 500, None),
        confirming_mo=confirming(),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


USED = datetime(2026, 5, 3, 4, tzinfo=UTC)


def per_use(**kw: object) -> ChargeFacts:
    """A game download on 3 May, requested by an SMS to the SP's number ten minutes before."""
    sub = SubscriptionFact(1, "QQ-GAME", "active", "per_use", 200, False, None, CONFIRMED, None, 2)
    base = ChargeFacts(
        charge_id=9,
        msisdn=ALICE,
        service_code="QQ-GAME",
        kind="per_use",
        period="2026-05",
        period_start=MAY,
        amount_fen=400,
        quantity=2,
        occurred_at=USED,
        usage_ref="R1",
        subscription=sub,
        order=OrderFact(2, "QQ-GAME", "confirmed", 200, None),
        confirming_mo=confirming(),
        usage=(UsageFact("R1", "QQ-GAME", USED, 2),),
        use_requests=(MoFact(8, ALICE, "10661700", "YX", USED - timedelta(minutes=10), "sp_order_refused"),),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def codes(f: ChargeFacts) -> list[str]:
    return [x.code for x in judge(f).findings]


def test_evidence_that_supports_the_charge_leaves_it_to_verification():
    for f in (monthly(), per_use()):
        j = judge(f)
        assert j.rule is None and j.findings == () and j.checked


# 计费出错,多收、错收客户信息费(实施双倍返还)


def test_charged_in_the_free_trial_is_a_billing_error():
    f = monthly(period="2026-04", period_start=datetime(2026, 4, 1, tzinfo=SHANGHAI).astimezone(UTC))
    assert judge(f).rule is Rule.billing_error and codes(f) == ["BE01"]


def test_the_trial_boundary_is_the_shanghai_month_not_the_utc_date():
    # 1 May 00:00 Shanghai is 30 April 16:00 UTC: still May, the first month to pay
    assert judge(monthly()).rule is None


def test_charged_for_a_month_after_unsubscription_is_a_billing_error():
    sub = monthly().subscription
    assert sub is not None
    gone = replace(sub, status="unsubscribed", unsubscribed_at=MAY - timedelta(seconds=1))
    assert codes(monthly(subscription=gone)) == ["BE02"]
    # unsubscribed during May: May was owed (the billing run's rule)
    during = replace(sub, status="unsubscribed", unsubscribed_at=MAY + timedelta(days=3))
    assert judge(monthly(subscription=during)).rule is None


def test_a_use_after_unsubscription_is_a_billing_error():
    sub = per_use().subscription
    assert sub is not None
    gone = replace(sub, status="unsubscribed", unsubscribed_at=USED - timedelta(minutes=1))
    assert "BE02" in codes(per_use(subscription=gone))


def test_charged_twice_for_the_same_month_is_a_billing_error():
    assert codes(monthly(earlier_same_period=(5,))) == ["BE03"]


def test_a_price_other_than_the_confirmed_one_is_a_billing_error():
    assert codes(monthly(amount_fen=800)) == ["BE04"]
    assert codes(per_use(amount_fen=600)) == ["BE04"]  # 2 uses at 2 yuan are 4 yuan
    # the price the subscriber confirmed wins over a later catalog price on the subscription
    sub = monthly().subscription
    assert sub is not None
    assert codes(monthly(subscription=replace(sub, price_fen=800), amount_fen=800)) == ["BE04"]


def test_a_service_never_subscribed_is_a_billing_error():
    assert judge(monthly(subscription=None, order=None)).rule is Rule.billing_error
    assert "BE05" in codes(monthly(subscription=None, order=None))
    sub = monthly().subscription
    assert sub is not None
    assert "BE05" in codes(monthly(subscription=replace(sub, service_code="SINA-WEATHER")))


# 各系统采集点的网络流量或计费信息不全或冲突的(实施双倍返还)


def test_a_per_use_charge_without_a_usage_record_is_a_records_conflict():
    f = per_use(usage=())
    assert judge(f).rule is Rule.records_conflict and codes(f) == ["RC01"]


def test_usage_records_that_disagree_are_a_records_conflict():
    assert codes(per_use(usage=(UsageFact("R1", "QQ-GAME", USED, 3),))) == ["RC02"]
    assert codes(per_use(usage=(UsageFact("R1", "QQ-MUSIC", USED, 2),))) == ["RC02"]
    assert codes(per_use(usage=(UsageFact("R1", "QQ-GAME", USED + timedelta(hours=2), 2),))) == ["RC02"]


def test_a_subscription_without_a_matching_confirmed_order_is_a_records_conflict():
    assert "RC03" in codes(monthly(order=None))
    assert "RC03" in codes(monthly(order=OrderFact(2, "SINA-NEWS", "expired", 500, None)))
    assert judge(monthly(order=OrderFact(2, "QQ-TONES", "confirmed", 500, None))).rule is Rule.records_conflict


# 无法提供客户主动使用SP业务的记录的(实施双倍返还); 退订指令、错误指令、帮助指令、客服指令不算


def test_no_confirming_sms_of_the_subscriber_is_no_active_use():
    assert judge(monthly(confirming_mo=None)).rule is Rule.no_active_use
    assert codes(monthly(confirming_mo=None)) == ["NU01"]


@pytest.mark.parametrize("label", ["unsubscribe_code", "unsubscribe_all", "help", "query", "objection_accepted"])
def test_unsubscribe_help_wrong_and_service_commands_are_not_active_use(label):
    assert judge(monthly(confirming_mo=confirming(handled_as=label))).rule is Rule.no_active_use
    f = per_use(use_requests=(MoFact(8, ALICE, "10661700", "TD", USED - timedelta(minutes=5), label),))
    assert judge(f).rule is Rule.no_active_use


def test_someone_elses_sms_is_not_the_subscribers_consent_unless_they_gave_it_and_pay():
    other = confirming(msisdn="13900139000")
    assert judge(monthly(confirming_mo=other)).rule is Rule.no_active_use
    gift = OrderFact(2, "SINA-NEWS", "confirmed", 500, "13900139000")
    assert judge(monthly(confirming_mo=other, order=gift)).rule is None


def test_a_per_use_charge_needs_a_request_at_or_shortly_before_the_use():
    early = MoFact(8, ALICE, "10661700", "YX", USED - rules.USE_REQUEST_WINDOW - timedelta(seconds=1), "sp_order")
    assert codes(per_use(use_requests=(early,))) == ["NU02"]
    # the confirmation of the per-use subscription months earlier is not a record of this use
    assert codes(per_use(use_requests=())) == ["NU02"]
    skew = MoFact(8, ALICE, "10661700", "YX", USED + timedelta(minutes=4), "sp_order")
    assert judge(per_use(use_requests=(skew,))).rule is None


def test_the_order_of_the_table_billing_error_first():
    f = monthly(amount_fen=800, order=None, confirming_mo=None)
    assert judge(f).rule is Rule.billing_error
    assert set(codes(f)) >= {"RC03", "NU01"}  # every finding is shown, the first rule decides


# what is paid


def test_entitled_rules_pay_refund_and_an_equal_return_at_once_whatever_the_policy():
    j = judge(monthly(confirming_mo=None))
    for policy in Policy:
        p = rules.on_open(j, policy, 500)
        assert (p.rule, p.status, p.refund_fen, p.return_fen, p.sp_owes_fen) == (
            Rule.no_active_use,
            Status.decided,
            500,
            500,
            1000,
        )


def test_confirm_first_pays_nothing_until_verified_refund_first_refunds_plainly():
    j = judge(monthly())
    assert rules.on_open(j, Policy.confirm_first, 500).refund_fen == 0
    first = rules.on_open(j, Policy.refund_first, 500)
    assert (first.status, first.refund_fen, first.return_fen) == (Status.verifying, 500, 0)


def test_unverified_in_three_days_is_refund_only():
    p = rules.on_verification(Outcome.not_verifiable, 500, 0)
    assert (p.rule, p.refund_fen, p.return_fen) == (Rule.unverified_3d, 500, 0)
    # refund first: already refunded, nothing more, and no return
    p = rules.on_verification(Outcome.not_verifiable, 500, 500)
    assert (p.refund_fen, p.return_fen, p.sp_owes_fen) == (0, 0, 500)


def test_verified_legitimate_is_no_entitlement_and_never_claws_back():
    p = rules.on_verification(Outcome.verified_legitimate, 500, 500)
    assert (p.rule, p.refund_fen, p.return_fen) == (Rule.legitimate, 0, 0)


def test_a_discretionary_refund_is_never_doubled():
    p = rules.discretionary(500, 0)
    assert (p.rule, p.refund_fen, p.return_fen, p.sp_owes_fen) == (Rule.discretionary, 500, 0, 0)


def test_the_72_hours_and_the_ceiling():
    opened = datetime(2026, 5, 3, tzinfo=UTC)
    assert not rules.overdue(opened, opened + timedelta(hours=71, minutes=59, seconds=59))
    assert rules.overdue(opened, opened + timedelta(hours=72))
    rules.check_ceiling(1500, 500, 2000)
    with pytest.raises(rules.CeilingExceeded):
        rules.check_ceiling(1500, 501, 2000)


def test_headline_rule_of_several_charges():
    assert rules.headline([None, Rule.no_active_use, Rule.billing_error]) is Rule.billing_error
    assert rules.headline([None, None]) is None
    assert rules.headline([Rule.legitimate, Rule.discretionary]) is Rule.discretionary


@given(
    amount=st.integers(min_value=1, max_value=100_000),
    refunded_first=st.booleans(),
    outcome=st.sampled_from(list(Outcome)),
    entitled=st.booleans(),
)
def test_money_invariants_of_every_path(amount, refunded_first, outcome, entitled):
    j = judge(monthly(confirming_mo=None) if entitled else monthly())
    opened = rules.on_open(j, Policy.refund_first if refunded_first else Policy.confirm_first, amount)
    total_refund, total_return = opened.refund_fen, opened.return_fen
    if opened.status is Status.verifying:
        later = rules.on_verification(outcome, amount, opened.refund_fen)
        total_refund += later.refund_fen
        total_return += later.return_fen
        if later.rule is Rule.legitimate:
            extra = rules.discretionary(amount, total_refund)
            assert extra.return_fen == 0
            total_refund += extra.refund_fen
    assert 0 <= total_refund <= amount
    assert total_return in (0, total_refund)
