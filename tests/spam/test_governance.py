"""Reports to 10086999, port sanctions, marked senders, the review queue and strategy
switches, end to end on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mingbai.config import Settings
from mingbai.db import Database, make_engine
from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.platform import Platform
from mingbai.spam import reports, service
from mingbai.spam.engine import Message
from mingbai.spam.runtime import LiveFilter
from tests.helpers import ALICE, BOB, last_delivered
from tests.spam.conftest import HAM_TEXT, SPAM_TEXT

PORT = "1065750012345"
NOTICE = "您尾号7544卡11日11:03ATM支出2,000元，手续费2元。【工商银行】"
CAROL = "13700137000"  # 湖南, like ALICE and BOB
XINJIANG = "15800158000"


def register_bank(platform: Platform) -> None:
    with platform.uow() as ctx:
        service.register_port(ctx, port=PORT, owner="中国工商银行", signature="工商银行", province="湖南", actor="t")


def strategy(platform: Platform, **changes) -> int:
    with platform.uow() as ctx:
        s = service.create_strategy(ctx, changes=changes, actor="t", note="test")
        service.activate_strategy(ctx, s.version, actor="t")
    return s.version


def report(platform: Platform, reporter: str, text: str) -> int:
    result = platform.receive_sms(reporter, "10086999", text)
    assert result.handled_as in ("report_accepted", "report_referred"), result
    with platform.uow() as ctx:
        return reports.list_reports(ctx, status=None)[-1].id


def decide(platform: Platform, report_id: int, confirm: bool = True) -> reports.Verification:
    with platform.uow() as ctx:
        return reports.decide_report(ctx, report_id=report_id, confirm=confirm, reviewer="reviewer:r1")


def test_report_by_sms_is_accepted_linked_and_acknowledged(platform):
    register_bank(platform)
    result = platform.receive_sms(ALICE, "10086999", f"{PORT}*恭喜您中奖，请点击领取")
    assert result.handled_as == "report_accepted"
    (receipt,) = result.replies
    assert receipt.sender == "10086999" and "已受理" in receipt.text
    with platform.uow() as ctx:
        (r,) = reports.list_reports(ctx)
    assert (r.reported_sender, r.sender_kind, r.status, r.content) == (
        PORT,
        "port",
        "pending",
        "恭喜您中奖，请点击领取",
    )
    assert r.reporter == "138****8000"
    # a forwarded text without a number is still a report; an empty one gets the how-to
    assert platform.receive_sms(BOB, "10086999", "办证刻章，电话见图").handled_as == "report_accepted"
    help_ = platform.receive_sms(BOB, "10086999", "   ")
    assert help_.handled_as == "report_help" and "号码*短信内容" in help_.replies[0].text
    with platform.uow() as ctx:
        assert len(reports.list_reports(ctx, status=None)) == 2


@pytest.mark.parametrize(
    "text",
    [f"举报 {PORT} 【某电商】双十一大促", f"【某电商】双十一大促 {PORT}", f"举报:{PORT}:【某电商】双十一大促"],
)
def test_a_report_names_its_sender_however_it_is_forwarded(platform, text):
    register_bank(platform)
    assert platform.receive_sms(ALICE, "10086999", text).handled_as == "report_accepted"
    with platform.uow() as ctx:
        (r,) = reports.list_reports(ctx)
    assert (r.reported_sender, r.sender_kind, r.content) == (PORT, "port", "【某电商】双十一大促")


def test_confirmed_reports_escalate_the_port_until_the_filter_blocks_it(platform, clock):
    register_bank(platform)
    strategy(platform, port_warn_after=1, port_penalise_after=2, port_close_after=3)
    live = LiveFilter(platform, refresh_seconds=3600)  # only this process's commits refresh it
    msg = Message(PORT, BOB, NOTICE, "industry")
    assert live.check(msg).verdict == "pass"
    sanctions = []
    for reporter in (ALICE, BOB, CAROL):
        rid = report(platform, reporter, f"{PORT}*理财高收益，回复1了解")
        sanctions.append(decide(platform, rid).sanction)
        clock.advance(timedelta(minutes=5))
    assert sanctions == [f"port {PORT} warned", f"port {PORT} penalised", f"port {PORT} closed"]
    assert "核实为垃圾短信" in last_delivered(platform, ALICE)
    decision = live.check(msg)
    assert decision.verdict == "block" and decision.reasons == ("port_closed",)
    with platform.uow() as ctx:
        history = service.port_history(ctx, PORT)
        assert [e.to_state for e in history] == ["active", "warned", "penalised", "closed"]
        assert "confirmed reports from 3 subscribers" in history[-1].reason
        # reopening is a person's decision, recorded too
        service.set_port_state(ctx, port=PORT, state="active", reason="整改完成", actor="operator:o1")
    assert live.check(msg).verdict == "pass"
    with platform.uow() as ctx:
        since, until = reports.stats_window(ctx, 7)
        stats = reports.report_stats(ctx, since=since, until=until)
    assert (stats.received, stats.verified, stats.verified_pct, stats.confirmed) == (3, 3, 100.0, 3)
    assert (stats.ports_warned, stats.ports_penalised, stats.ports_closed) == (1, 1, 1)
    assert stats.mean_hours_to_verify == 0.0


def test_person_sender_is_watched_then_blocked(platform):
    strategy(platform, sender_watch_after=1, sender_block_after=2)
    live = LiveFilter(platform, refresh_seconds=3600)
    first = decide(platform, report(platform, ALICE, f"{CAROL}*发票代开，联系我"))
    assert first.sanction == "sender 137****7000 watched"
    assert "sender_reported" in live.check(Message(CAROL, BOB, HAM_TEXT)).reasons
    second = decide(platform, report(platform, BOB, f"{CAROL}*发票代开"))
    assert second.sanction == "sender 137****7000 blocked"
    assert live.check(Message(CAROL, BOB, HAM_TEXT)).reasons == ("sender_blocked",)
    with platform.uow() as ctx:
        reports.clear_sender(ctx, msisdn=CAROL, actor="operator:o1")
    assert live.check(Message(CAROL, BOB, HAM_TEXT)).verdict == "pass"
    with platform.uow() as ctx, pytest.raises(NotFound):
        reports.clear_sender(ctx, msisdn=BOB, actor="operator:o1")


def test_one_reporter_is_one_voice(platform):
    register_bank(platform)
    strategy(platform, port_warn_after=2, port_penalise_after=3, port_close_after=4)
    for _ in range(3):
        assert decide(platform, report(platform, ALICE, f"{PORT}*贷款")).sanction is None
    assert decide(platform, report(platform, BOB, f"{PORT}*贷款")).sanction == f"port {PORT} warned"


def test_rejected_reports_count_for_nothing(platform, clock):
    register_bank(platform)
    strategy(platform, port_warn_after=1, port_penalise_after=2, port_close_after=3)
    rid = report(platform, ALICE, f"{PORT}*您的验证码是123456")
    clock.advance(timedelta(hours=2))
    result = decide(platform, rid, confirm=False)
    assert result.report.status == "rejected" and result.sanction is None
    assert "暂未发现违规" in last_delivered(platform, ALICE)
    with platform.uow() as ctx:
        assert service.get_port(ctx, PORT).state == "active"
        stats = reports.report_stats(ctx, since=clock.now() - timedelta(days=1), until=clock.now())
        assert stats.mean_hours_to_verify == 2.0 and stats.verified_pct == 100.0
        with pytest.raises(Conflict):
            reports.decide_report(ctx, report_id=rid, confirm=True, reviewer="r")


def test_other_provinces_sender_is_referred_and_exported(platform):
    result = platform.receive_sms(ALICE, "10086999", f"{XINJIANG}*低价出售二手车")
    assert result.handled_as == "report_referred" and "新疆" in result.replies[0].text
    with platform.uow() as ctx:
        (r,) = reports.list_reports(ctx, status="referred")
        assert r.referred_to == "新疆"
        with pytest.raises(Conflict):
            reports.decide_report(ctx, report_id=r.id, confirm=True, reviewer="r")
        (ref,) = reports.export_referrals(ctx, province="新疆")
        assert (ref.report_id, ref.reported_sender, ref.content) == (r.id, XINJIANG, "低价出售二手车")
    with platform.uow() as ctx:
        assert reports.export_referrals(ctx) == []
        assert len(reports.export_referrals(ctx, include_exported=True)) == 1
        since, until = reports.stats_window(ctx, 1)
        stats = reports.report_stats(ctx, since=since, until=until)
    assert (stats.received, stats.referred, stats.pending, stats.verified_pct) == (1, 1, 0, 100.0)


def test_grey_messages_are_queued_masked_and_labeled(platform):
    strategy(platform, block_at=0.99999, review_at=0.5)
    live = LiveFilter(platform, refresh_seconds=3600)
    decision, review_id = live.check_and_record(Message(ALICE, BOB, SPAM_TEXT))
    assert decision.verdict == "review" and review_id is not None
    assert live.check_and_record(Message(ALICE, BOB, HAM_TEXT)) == (live.check(Message(ALICE, BOB, HAM_TEXT)), None)
    with platform.uow() as ctx:
        (item,) = service.list_reviews(ctx)
        assert (item.sender, item.recipient, item.text) == ("138****8000", "139****9000", SPAM_TEXT)
        assert item.strategy_version == decision.strategy_version and item.reasons == ["content"]
        service.decide_review(ctx, review_id=item.id, label="spam", reviewer="reviewer:r1")
    with platform.uow() as ctx:
        assert service.list_reviews(ctx) == []
        with pytest.raises(Conflict):
            service.decide_review(ctx, review_id=item.id, label="ham", reviewer="reviewer:r2")
        with pytest.raises(InvalidInput):
            service.decide_review(ctx, review_id=item.id, label="maybe", reviewer="r")
        (labeled,) = service.labeled_examples(ctx)
    assert (labeled.label, labeled.text) == (1, SPAM_TEXT)


def test_blocks_are_logged_with_version_and_reasons(platform, clock):
    live = LiveFilter(platform, refresh_seconds=3600)
    decision, row_id = live.check_and_record(Message(ALICE, BOB, SPAM_TEXT))
    assert decision.verdict == "block" and row_id is not None
    with platform.uow() as ctx:
        assert service.blocked_count(ctx, since=clock.now() - timedelta(hours=1), until=clock.now() + timedelta(1)) == 1


def test_strategy_switch_reaches_another_process_without_restart(platform, db_url, clock):
    here = LiveFilter(platform, refresh_seconds=3600)
    # a second platform on the same database stands for another SMSC node
    other = Platform(
        Settings(database_url=db_url, code_secret="x"), clock=clock, database=Database(make_engine(db_url))
    )
    try:
        there = LiveFilter(other, refresh_seconds=0)
        assert there.check(Message(ALICE, BOB, SPAM_TEXT)).verdict == "block"
        version = strategy(platform, block_at=0.99999, review_at=0.3)
        seen = there.check(Message(ALICE, BOB, SPAM_TEXT))
        assert (seen.verdict, seen.strategy_version) == ("review", version)
        assert here.check(Message(ALICE, BOB, SPAM_TEXT)).strategy_version == version
        # roll back: activating version 1 again
        with platform.uow() as ctx:
            service.activate_strategy(ctx, 1, actor="t")
        back = there.check(Message(ALICE, BOB, SPAM_TEXT))
        assert (back.verdict, back.strategy_version) == ("block", 1)
        with platform.uow() as ctx:
            rows = service.list_strategies(ctx)
        assert [(r.version, r.active) for r in rows] == [(1, True), (version, False)]
    finally:
        other.db.engine.dispose()


def test_strategies_refuse_what_cannot_run(platform):
    with platform.uow() as ctx:
        with pytest.raises(NotFound):
            service.create_strategy(ctx, changes={"model_version": "no-such-model"}, actor="t")
        with pytest.raises(InvalidInput):
            service.create_strategy(ctx, changes={"block_at": 2}, actor="t")
        with pytest.raises(NotFound):
            service.activate_strategy(ctx, 99, actor="t")


def test_port_registry_rules(platform):
    register_bank(platform)
    with platform.uow() as ctx:
        with pytest.raises(Conflict):
            service.register_port(ctx, port=PORT, owner="x", signature="x", actor="t")
        with pytest.raises(InvalidInput):
            service.set_port_state(ctx, port=PORT, state="frozen", reason="x", actor="t")
        with pytest.raises(InvalidInput):
            service.set_port_state(ctx, port=PORT, state="closed", reason=" ", actor="t")
        with pytest.raises(NotFound):
            service.set_port_state(ctx, port="10690000", state="closed", reason="x", actor="t")
        assert [p.port for p in service.list_ports(ctx, state="active")] == [PORT]
