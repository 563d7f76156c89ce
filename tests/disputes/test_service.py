"""Disputes at the counter, end to end on SQLite and PostgreSQL: the decision by rule from the
consent evidence, the money in the ledger, the SMS, verification and the 72-hour deadline."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mingbai.charging.ledger import balance, credits_between
from mingbai.disputes import service
from mingbai.disputes.audit import audit_consent
from mingbai.disputes.evidence import chain
from mingbai.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingbai.subscriptions.service import list_subscriptions
from tests.disputes.conftest import HOUR, charge, sh, subscribed, usage
from tests.helpers import ALICE, BOB, last_delivered


def _open(platform, **kw):
    kw.setdefault("msisdn", ALICE)
    kw.setdefault("channel", "hotline")
    kw.setdefault("actor", "agent:wang")
    with platform.uow() as ctx:
        return service.open_dispute(ctx, **kw)


def _decide(platform, dispute_id, outcome, **kw):
    kw.setdefault("actor", "agent:wang")
    with platform.uow() as ctx:
        return service.decide_dispute(ctx, dispute_id=dispute_id, outcome=outcome, **kw)


def test_a_fee_charged_in_the_free_trial_is_refunded_twice_over(platform):
    sub = subscribed(platform)  # confirmed 10 April: free until 1 May
    cid = charge(platform, subscription_id=sub, period="2026-04")
    d = _open(platform, charge_ids=[cid], words="我没用过,为什么扣钱")
    assert (d.rule, d.status, d.refund_fen, d.return_fen) == ("billing_error", "decided", 500, 500)
    (item,) = d.items
    assert [f["code"] for f in item.evidence["findings"]] == ["BE01"]
    assert item.sp_owes_fen == 1000
    assert item.evidence["used"]["confirming_mo"]["text"]  # the evidence it stood on is kept
    with platform.uow() as ctx:
        b = balance(ctx, msisdn=ALICE)
        subs = list_subscriptions(ctx, msisdn=ALICE)
    assert b.balance_fen == 500 + 500 - 500  # refund + return − the charge
    assert subs[0].status == "unsubscribed"  # charging stops in the same decision
    sms = last_delivered(platform, ALICE)
    assert "计费差错" in sms and "退还信息费5元" in sms and "双倍返还5元" in sms


def test_a_confirmed_fee_is_verified_first_then_refunded_only_when_unverifiable(platform):
    sub = subscribed(platform)
    cid = charge(platform, subscription_id=sub, period="2026-05")
    d = _open(platform, charge_ids=[cid])
    assert (d.status, d.rule, d.refund_fen, d.return_fen) == ("verifying", None, 0, 0), d.items[0].evidence
    assert "3日内核查" in last_delivered(platform, ALICE)
    done = _decide(platform, d.id, "not_verifiable")
    assert (done.status, done.rule, done.refund_fen, done.return_fen) == ("decided", "unverified_3d", 500, 0)
    again = _decide(platform, d.id, "not_verifiable")  # a double click
    assert again.replayed and again.refund_fen == 500
    with platform.uow() as ctx:
        assert balance(ctx, msisdn=ALICE).balance_fen == 0  # refunded once, never twice


def test_verified_legitimate_pays_nothing_unless_the_agent_grants_a_plain_refund(platform):
    sub = subscribed(platform)
    cid = charge(platform, subscription_id=sub, period="2026-05")
    d = _open(platform, charge_ids=[cid], keep_service=True)
    with platform.uow() as ctx:
        assert list_subscriptions(ctx, msisdn=ALICE)[0].status == "active"  # the subscriber kept it
    with pytest.raises(InvalidInput, match="reason"):
        _decide(platform, d.id, "verified_legitimate", discretionary_refund=True)
    legit = _decide(platform, d.id, "verified_legitimate")
    assert (legit.rule, legit.refund_fen, legit.return_fen) == ("legitimate", 0, 0)
    assert "不予退还" in last_delivered(platform, ALICE)
    kind = _decide(platform, d.id, "verified_legitimate", discretionary_refund=True, reason="老客户,坚持要求")
    assert (kind.rule, kind.refund_fen, kind.return_fen, kind.discretionary) == ("discretionary", 500, 0, True)
    assert kind.items[0].sp_owes_fen == 0  # the operator's goodwill, not the SP's debt
    twice = _decide(platform, d.id, "verified_legitimate", discretionary_refund=True, reason="老客户,坚持要求")
    assert twice.replayed and twice.refund_fen == 500
    with platform.uow() as ctx:
        (total,) = service.agent_totals(ctx)
    assert (total.actor, total.discretionary_count, total.discretionary_fen) == ("agent:wang", 1, 500)


def test_discretionary_refunds_stop_at_the_agents_ceiling(platform):
    platform.settings = platform.settings.__class__(**{**platform.settings.__dict__, "discretionary_ceiling_fen": 700})
    subs = [subscribed(platform, service=s) for s in ("SINA-NEWS", "SINA-WEATHER", "SOHU-MMS")]
    ids = [charge(platform, subscription_id=s, period="2026-05") for s in subs]
    disputes = [_open(platform, charge_ids=[c]) for c in ids]
    for d in disputes:
        _decide(platform, d.id, "verified_legitimate")
    _decide(platform, disputes[0].id, "verified_legitimate", discretionary_refund=True, reason="r")  # 500
    _decide(platform, disputes[1].id, "verified_legitimate", discretionary_refund=True, reason="r")  # 200
    with pytest.raises(Forbidden, match="ceiling"):
        _decide(platform, disputes[2].id, "verified_legitimate", discretionary_refund=True, reason="r")
    # another agent has a ceiling of their own
    other = _decide(platform, disputes[2].id, "verified_legitimate", discretionary_refund=False, actor="agent:li")
    assert other.replayed


def test_refund_first_category_refunds_at_once_and_never_claws_back(platform):
    with platform.uow() as ctx:
        service.set_policy(ctx, category="sms", policy="refund_first", actor="ops:zhao", reason="seed 001 梦网")
    sub = subscribed(platform)
    cid = charge(platform, subscription_id=sub, period="2026-05")
    d = _open(platform, charge_ids=[cid])
    assert (d.status, d.policy, d.refund_fen, d.return_fen) == ("verifying", "refund_first", 500, 0)
    assert "先行退还信息费5元" in last_delivered(platform, ALICE)
    legit = _decide(platform, d.id, "verified_legitimate")
    assert (legit.rule, legit.refund_fen, legit.return_fen) == ("legitimate", 500, 0)
    assert "无需退回" in last_delivered(platform, ALICE)
    with platform.uow() as ctx:
        assert balance(ctx, msisdn=ALICE).balance_fen == 0  # the refund stays
        history = service.policy_history(ctx, category="sms")
    assert [(p.policy, p.actor) for p in history] == [("refund_first", "ops:zhao")]


def test_policy_changes_keep_their_history_and_the_newest_wins(platform, clock):
    with platform.uow() as ctx:
        service.set_policy(ctx, category="*", policy="refund_first", actor="ops:a")
    clock.advance(HOUR)
    with platform.uow() as ctx:
        service.set_policy(ctx, category="wap", policy="confirm_first", actor="ops:b")
        now = service.policies(ctx, ["sms", "wap"])
        assert (now["sms"].value, now["wap"].value) == ("refund_first", "confirm_first")
        with pytest.raises(InvalidInput):
            service.set_policy(ctx, category="sms", policy="whenever", actor="ops:b")
        with pytest.raises(InvalidInput):
            service.set_policy(ctx, category="fax", policy="refund_first", actor="ops:b")
    with platform.uow() as ctx:
        assert len(service.policy_history(ctx)) == 2


def test_unverified_at_72_hours_ends_as_refund_only(platform, clock):
    sub = subscribed(platform)
    cid = charge(platform, subscription_id=sub, period="2026-05")
    d = _open(platform, charge_ids=[cid])
    clock.advance(timedelta(hours=71, minutes=59))
    with platform.uow() as ctx:
        assert service.expire_overdue(ctx) == 0
    clock.advance(timedelta(minutes=1))
    platform.tick()
    with platform.uow() as ctx:
        done = service.get_dispute(ctx, d.id)
        assert service.expire_overdue(ctx) == 0  # idempotent
    assert (done.rule, done.refund_fen, done.return_fen, done.decided_by) == ("unverified_3d", 500, 0, "system:72h")
    assert "逾期3日未能查证" in last_delivered(platform, ALICE)
    with pytest.raises(Conflict, match="already decided"):
        _decide(platform, d.id, "verified_legitimate")


def test_a_subscription_without_the_subscribers_confirming_sms_is_refunded_twice_over(platform):
    from tests.charging.conftest import add_subscription

    sub = add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 3, 9), first_charge_on=date(2026, 2, 3)
    )
    ids = [charge(platform, subscription_id=sub, period=p) for p in ("2026-03", "2026-04")]
    d = _open(platform, subscription_id=sub, channel="hall", actor="hall:li")
    assert (d.rule, d.refund_fen, d.return_fen) == ("records_conflict", 1000, 1000)
    codes = {c["code"] for i in d.items for c in i.evidence["findings"]}
    assert {"RC03", "NU01"} <= codes
    assert sorted(i.charge_id for i in d.items) == sorted(ids)
    with platform.uow() as ctx:
        audit = audit_consent(ctx)
    assert audit.charges_checked == 2 and audit.orphan_count == 2
    assert {o["reason"] for o in audit.orphans} == {"no_order"}


def test_a_per_use_charge_needs_the_subscribers_request_and_a_matching_record(platform, clock):
    sub = subscribed(platform, service="QQ-GAME")
    used = sh(2026, 4, 10, 12)
    clock.set(used - timedelta(minutes=10))
    r = platform.receive_sms(ALICE, "10661700", "YX")  # asks for a game: active use
    assert r.handled_as == "sp_order_refused"
    usage(platform, record_id="R1", used_at=used)
    ok = charge(platform, subscription_id=sub, kind="per_use", usage_ref="R1", occurred_at=used)
    no_record = charge(platform, subscription_id=sub, kind="per_use", usage_ref="R2", occurred_at=used)
    later = used + timedelta(hours=5)
    usage(platform, record_id="R3", used_at=later)
    no_request = charge(platform, subscription_id=sub, kind="per_use", usage_ref="R3", occurred_at=later)
    clock.set(later + HOUR)
    d = _open(platform, charge_ids=[ok, no_record, no_request], keep_service=True)
    by = {i.charge_id: i for i in d.items}
    assert by[ok].rule is None and by[ok].refund_fen == 0
    assert (by[no_record].rule, by[no_record].return_fen) == ("records_conflict", 200)
    assert (by[no_request].rule, by[no_request].return_fen) == ("no_active_use", 200)
    assert d.status == "verifying" and d.refund_fen == 400 and d.return_fen == 400


def test_opening_twice_or_replaying_posts_nothing_new(platform):
    sub = subscribed(platform)
    cid = charge(platform, subscription_id=sub, period="2026-04")
    first = _open(platform, charge_ids=[cid], request_ref="hotline-1")
    again = _open(platform, charge_ids=[cid], request_ref="hotline-1")
    other_channel = _open(platform, charge_ids=[cid], channel="hall", actor="hall:li")
    assert again.replayed and other_channel.replayed and again.id == first.id == other_channel.id
    with platform.uow() as ctx:
        credits = credits_between(ctx, ALICE, sh(2020, 1, 1), sh(2030, 1, 1))
    assert sorted((c.kind, c.amount_fen) for c in credits) == [("refund", 500), ("return", 500)]


def test_clear_refusals(platform):
    sub = subscribed(platform)
    with pytest.raises(InvalidInput):
        _open(platform, charge_ids=[1], channel="fax")
    with pytest.raises(InvalidInput):
        _open(platform)
    with pytest.raises(NotFound):
        _open(platform, charge_ids=[12345])
    with pytest.raises(NotFound):
        _open(platform, subscription_id=sub)  # nothing charged yet
    with pytest.raises(NotFound):
        _open(platform, msisdn="13700000000", charge_ids=[1])
    with pytest.raises(NotFound):
        _decide(platform, 999, "not_verifiable")
    with pytest.raises(InvalidInput):
        _decide(platform, 999, "maybe")


def test_evidence_chain_names_the_confirming_sms_and_the_audit_finds_no_orphan(platform, clock):
    sub = subscribed(platform)
    subscribed(platform, msisdn=BOB, service="QQ-TONES")
    clock.set(sh(2026, 5, 1, 0, 5))
    from mingbai.charging.billing import run_billing
    from mingbai.charging.rules import parse_billing_period

    run_billing(platform, parse_billing_period("2026-05"), actor="test")
    with platform.uow() as ctx:
        audit = audit_consent(ctx)
        assert (audit.charges_checked, audit.orphan_count, audit.orphans) == (2, 0, [])
        c = chain(ctx, msisdn=ALICE, subscription_id=sub)
    assert c.confirmation_request is not None and "验证码" in c.confirmation_request.text
    assert c.confirmation_request.status == "delivered"
    assert c.confirming_mo is not None and c.confirming_mo.handled_as == "code_confirmed"
    assert c.confirming_mo.received_at == sh(2026, 4, 10, 10)
    assert [m.kind for m in c.reminders][:1] == ["order_reminder"]
    assert [e.kind for e in c.events][:3] == ["order_placed", "order_confirmed", "subscribed"]
    assert [m.id for m in c.active_use] == [c.confirming_mo.id]
    (judgement,) = c.judgements.values()
    assert judgement["rule"] is None  # the evidence supports the charge
