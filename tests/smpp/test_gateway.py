"""The SMPP gateway against a fake SMSC: submit, receipts, MO, concatenation, durability."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from mingbai.messaging import service as messaging
from tests.helpers import ALICE, BOB, code_from
from tests.smpp.conftest import SmppRig, wait_until
from tests.smpp.smsc import FakeSmsc


def test_mt_goes_out_in_ucs2_and_receipt_marks_it_delivered(rig: SmppRig, smsc: FakeSmsc) -> None:
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=ALICE, text="您好,这是明白平台的测试短信。", kind="test")
    rig.platform.deliver()
    (row,) = rig.wait_states({"delivered"})
    (sub,) = smsc.submitted
    assert sub.destination == ALICE and sub.source == "10086"
    assert sub.data_coding == 8 and sub.text == "您好,这是明白平台的测试短信。"
    assert row.gateway_ref == sub.message_id and row.parts == 1 and row.done_at is not None


def test_receipt_states_map_to_outbox_states(rig: SmppRig, smsc: FakeSmsc) -> None:
    states = {"13800138001": "DELIVRD", "13800138002": "UNDELIV", "13800138003": "EXPIRED", "13800138004": "REJECTD"}
    smsc.policy.receipt = lambda s: states[s.destination]
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        for msisdn in states:
            messaging.enqueue(ctx, msisdn=msisdn, text="提醒", kind="test")
    rig.platform.deliver()
    rows = rig.wait_states({"delivered", "undeliverable", "expired"})
    got = {r.msisdn: (r.status, r.error) for r in rows}
    assert got["13800138001"] == ("delivered", None)
    assert got["13800138002"][0] == "undeliverable" and got["13800138002"][1].startswith("UNDELIV")
    assert got["13800138003"][0] == "expired"
    assert got["13800138004"][0] == "undeliverable" and got["13800138004"][1].startswith("REJECTD")


def test_long_text_goes_as_udh_parts_with_one_reference(rig: SmppRig, smsc: FakeSmsc) -> None:
    text = "中国移动温馨提示:" + "您已定制以下梦网业务,信息费5元/月;" * 8
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=ALICE, text=text, kind="test")
    rig.platform.deliver()
    (row,) = rig.wait_states({"delivered"})
    parts = sorted(smsc.submitted, key=lambda s: s.concat[2])  # type: ignore[index]
    assert len(parts) == row.parts > 1
    assert {p.concat[0] for p in parts} == {parts[0].concat[0]}  # type: ignore[index]
    assert [p.concat[1:] for p in parts] == [(len(parts), i) for i in range(1, len(parts) + 1)]  # type: ignore[index]
    assert all(len(p.payload) <= 140 for p in parts)
    assert "".join(p.text for p in parts) == text


def test_numbered_text_goes_as_separate_sms(rig: SmppRig, smsc: FakeSmsc) -> None:
    text = "中国移动温馨提示:您本月已定制以下梦网业务:" + "1.新浪提供的头条新闻短信业务,信息费5元/月;" * 4
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=ALICE, text=text, kind="test", segmentation="numbered")
    rig.platform.deliver()
    (row,) = rig.wait_states({"delivered"})
    assert row.parts == len(smsc.submitted) > 1
    assert all(s.concat is None and s.esm_class == 0 for s in smsc.submitted)
    n = len(smsc.submitted)
    assert sorted(s.text[: len(f"({n}/{n})")] for s in smsc.submitted) == [f"({i}/{n})" for i in range(1, n + 1)]


def test_mo_reaches_the_router_and_the_reply_goes_back_over_smpp(rig: SmppRig, smsc: FakeSmsc) -> None:
    rig.wait_bound()
    smsc.send_mo(ALICE, "10086", "0000")
    rows = rig.wait_states({"delivered"}, msisdn=ALICE)
    assert "您目前没有订购任何梦网业务" in rows[-1].text
    assert any(s.destination == ALICE and "没有订购" in s.text for s in smsc.submitted)


def test_order_confirmed_by_sms_over_smpp_end_to_end(rig: SmppRig, smsc: FakeSmsc) -> None:
    from mingbai.subscriptions.service import place_order

    rig.wait_bound()
    with rig.platform.uow() as ctx:
        place_order(ctx, msisdn=BOB, service_code="SINA-NEWS", channel="sp", actor="test")
    rig.platform.deliver()
    rig.wait_states({"delivered"}, msisdn=BOB)
    code = code_from(smsc.messages(BOB)[0])
    smsc.send_mo(BOB, "10086", code)
    rows = rig.wait_states({"delivered"}, msisdn=BOB)
    assert any("您已定制试用新浪的头条新闻业务" in r.text for r in rows)


def test_mos_arriving_together_are_handled_in_one_batch_and_each_answered(
    rig: SmppRig, smsc: FakeSmsc, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mingbai.messaging.gateways.smpp import ESME_RX_P_APPN

    sizes: list[int] = []
    receive_many = rig.platform.intake.receive_many

    def spy(messages):  # type: ignore[no-untyped-def]
        sizes.append(len(messages))
        return receive_many(messages)

    monkeypatch.setattr(rig.platform.intake, "receive_many", spy)
    rig.wait_bound()
    statuses = smsc.send_mos(
        [(ALICE, "10668888", "XW"), (BOB, "10668888", "XW"), (ALICE, "10086", "0000"), ("abc", "10086", "0000")]
    )
    assert statuses == [0, 0, 0, ESME_RX_P_APPN]  # the malformed sender is refused for good
    assert sum(sizes) == 4 and len(sizes) < 4, sizes
    rows = rig.wait_states({"delivered"}, msisdn=ALICE)
    rig.wait_states({"delivered"}, msisdn=BOB)
    assert sorted(r.kind for r in rows) == ["confirmation_request", "query_reply"]
    with rig.platform.uow() as ctx:
        mos = [m for m in messaging.conversation(ctx, ALICE) if m.direction == "mo"]
    assert sorted(m.kind for m in mos) == ["query", "sp_order"]


def test_concatenated_mo_is_reassembled_from_udh_parts(rig: SmppRig, smsc: FakeSmsc) -> None:
    rig.wait_bound()
    long_text = "我想查询一下我的业务" * 10  # nonsense to the router: it answers with help
    smsc.send_mo(ALICE, "10086", long_text, parts=3)
    rig.wait_states({"delivered"}, msisdn=ALICE)
    with rig.platform.uow() as ctx:
        mos = messaging.conversation(ctx, ALICE)
    assert [m.text for m in mos if m.direction == "mo"] == [long_text]


def test_throttling_slows_the_gateway_down_and_loses_nothing(rig: SmppRig, smsc: FakeSmsc) -> None:
    smsc.policy.answer = lambda s, n: 0x58 if n % 3 == 0 and n < 60 else 0  # ESME_RTHROTTLED
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        for i in range(40):
            messaging.enqueue(ctx, msisdn=f"1380013{i:04d}", text=f"第{i}条", kind="test")
    rig.platform.deliver()
    rows = rig.wait_states({"delivered"}, timeout=30)
    assert len(rows) == 40 and smsc.duplicates() == 0
    assert smsc.total_submits > 40  # the throttled ones were sent again
    assert rig.gateway._governor.current < rig.config.rate  # and the ceiling came down


def test_permanent_refusal_marks_the_row_rejected(rig: SmppRig, smsc: FakeSmsc) -> None:
    smsc.policy.answer = lambda s, n: 0x0B if s.destination.endswith("9") else 0  # ESME_RINVDSTADR
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn="13800138009", text="x", kind="test")
        messaging.enqueue(ctx, msisdn="13800138008", text="y", kind="test")
    rig.platform.deliver()
    rows = {r.msisdn: r for r in rig.wait_states({"delivered", "rejected"})}
    assert rows["13800138009"].status == "rejected" and rows["13800138009"].error == "ESME_RINVDSTADR"
    assert rows["13800138008"].status == "delivered"


def test_rate_limit_paces_submits(rig: SmppRig, smsc: FakeSmsc) -> None:
    rig.restart(rate=40.0)
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        for i in range(60):
            messaging.enqueue(ctx, msisdn=f"1390013{i:04d}", text="限速", kind="test")
    rig.platform.deliver()
    rig.wait_states({"delivered"}, timeout=30)
    times = sorted(s.at for s in smsc.submitted)
    span = times[-1] - times[0]
    assert 59 / span == pytest.approx(40.0, rel=0.2), span


def test_reconnects_when_the_smsc_drops_the_session(rig: SmppRig, smsc: FakeSmsc) -> None:
    rig.wait_bound()
    smsc.kick()
    wait_until(lambda: rig.gateway.status.binds >= 2 and rig.gateway.status.bound, 15, "no rebind")
    with rig.platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=ALICE, text="重连后", kind="test")
    rig.platform.deliver()
    rig.wait_states({"delivered"})


def test_receipts_after_a_restart_still_match_by_stored_smsc_id(rig: SmppRig, smsc: FakeSmsc) -> None:
    smsc.policy.receipt_delay = 1.5
    rig.wait_bound()
    with rig.platform.uow() as ctx:
        for i in range(10):
            messaging.enqueue(ctx, msisdn=f"1370013{i:04d}", text="重启", kind="test")
    rig.platform.deliver()
    rig.wait_states({"submitted"})
    rig.restart()  # a new run; the SMSC keeps the receipts until it binds again
    rows = rig.wait_states({"delivered"}, timeout=20)
    assert len(rows) == 10 and smsc.duplicates() == 0 and smsc.total_submits == 10
    assert rig.gateway.status.binds == 1  # the new run bound once
    with rig.platform.uow() as ctx:
        from mingbai.messaging.outbox import outbox_stats

        assert outbox_stats(ctx, since=ctx.now() - timedelta(days=1)).orphan_receipts == 0


def test_rows_claimed_ahead_go_out_at_their_due_time_not_at_the_claim(rig: SmppRig, smsc: FakeSmsc) -> None:
    """The sender claims rows due within its lookahead and holds each until its due time (the
    campaign's pacing), measured here against the real clock."""
    from mingbai.clock import SystemClock

    rig.restart()
    rig.platform.clock = SystemClock()  # due times in real time for this test
    rig.wait_bound()
    start, m0 = rig.platform.clock.now(), time.monotonic()
    with rig.platform.uow() as ctx:
        for i in range(10):  # one every 100 ms, from 300 ms on
            due = start + timedelta(milliseconds=300 + 100 * i)
            messaging.enqueue(ctx, msisdn=f"1350013{i:04d}", text="定时", kind="test", due_at=due)
    rig.platform.deliver()
    rig.wait_states({"delivered"}, timeout=15)
    offsets = [s.at - m0 for s in sorted(smsc.submitted, key=lambda s: s.at)]
    for i, off in enumerate(offsets):  # never early (claimed up to 0.5 s ahead); late only by a stall
        assert 0.3 + 0.1 * i - 0.01 <= off <= 0.3 + 0.1 * i + 1.0, offsets
