"""Mingbai's SMPP gateway against the real peer, Jasmin SMS gateway 0.11.0, with an upstream SMSC
behind it: MT out in UCS-2 (UDH parts for long texts), receipts back through Jasmin into the
outbox, MO in through Jasmin's MO router, and the order → code → confirmation flow."""

from __future__ import annotations

import pytest

from mingbai.messaging import service as messaging
from mingbai.messaging.gateways.smpp import BindRefused, check_bind
from tests.helpers import ALICE, BOB, code_from
from tests.jasmin.harness import Jasmin
from tests.smpp.conftest import SmppRig, smpp_config, wait_until
from tests.smpp.smsc import FakeSmsc

pytestmark = pytest.mark.xdist_group("jasmin")


def test_jasmin_bind_refusals_come_out_as_sentences(jasmin: Jasmin) -> None:
    import asyncio

    ok = smpp_config(jasmin.smpp_port, system_id=jasmin.user, password=jasmin.password)
    assert asyncio.run(check_bind(ok)) == jasmin.user
    for system_id, password in ((jasmin.user, "wrong"), ("nobody", "x")):
        with pytest.raises(BindRefused) as refused:
            asyncio.run(check_bind(smpp_config(jasmin.smpp_port, system_id=system_id, password=password)))
        assert refused.value.message.startswith(f"wrong password for system_id {system_id}, or no such system_id")


def test_long_mt_reaches_the_upstream_smsc_in_ucs2_with_udh_and_its_receipt_marks_it_delivered(
    via_jasmin: SmppRig, upstream: FakeSmsc, jasmin: Jasmin
) -> None:
    text = "中国移动温馨提示:" + "您已定制以下梦网业务,信息费5元/月;" * 8
    with via_jasmin.platform.uow() as ctx:
        messaging.enqueue(ctx, msisdn=ALICE, text=text, kind="test")
    via_jasmin.platform.deliver()
    (row,) = via_jasmin.wait_states({"delivered"}, timeout=30)
    parts = [s for s in upstream.submitted if s.destination == ALICE]
    assert len(parts) == row.parts > 1, jasmin.logs()
    assert all(p.system_id == "jasmin" and p.source == "10086" for p in parts)
    assert all(p.data_coding == 8 and p.esm_class & 0x40 for p in parts)  # UCS-2, UDH indicator
    refs = {p.concat for p in parts}
    assert None not in refs and len({c[0] for c in refs}) == 1  # type: ignore[index]
    assert sorted(c[1:] for c in refs) == [(len(parts), i) for i in range(1, len(parts) + 1)]  # type: ignore[index]
    assert upstream.messages(ALICE) == [text]
    # the outbox keeps Jasmin's message ids (not the upstream's), which its receipts carry
    assert row.gateway_ref and row.gateway_ref not in {p.message_id for p in parts}


def test_receipt_states_from_the_upstream_smsc_move_the_outbox_through_jasmin(
    via_jasmin: SmppRig, upstream: FakeSmsc
) -> None:
    states = {"13800138101": "DELIVRD", "13800138102": "UNDELIV", "13800138103": "EXPIRED"}
    upstream.policy.receipt = lambda s: states.get(s.destination, "DELIVRD")
    with via_jasmin.platform.uow() as ctx:
        for msisdn in states:
            messaging.enqueue(ctx, msisdn=msisdn, text="订购提醒:您已成功订购梦网业务。", kind="test")
    via_jasmin.platform.deliver()
    rows = via_jasmin.wait_states({"delivered", "undeliverable", "expired"}, timeout=30)
    got = {r.msisdn: (r.status, r.error) for r in rows}
    assert got["13800138101"] == ("delivered", None)
    assert got["13800138102"][0] == "undeliverable" and (got["13800138102"][1] or "").startswith("UNDELIV")
    assert got["13800138103"][0] == "expired"
    assert sorted(s.destination for s in upstream.submitted) == sorted(states)


def test_mo_0000_at_the_upstream_smsc_reaches_mingbai_and_the_reply_goes_back_out(
    via_jasmin: SmppRig, upstream: FakeSmsc
) -> None:
    upstream.send_mo(ALICE, "10086", "0000")
    rows = via_jasmin.wait_states({"delivered"}, msisdn=ALICE, timeout=30)
    assert "您目前没有订购任何梦网业务" in rows[-1].text
    wait_until(lambda: bool(upstream.messages(ALICE)), 10, "the reply never reached the upstream SMSC")
    assert "没有订购" in upstream.messages(ALICE)[-1]
    with via_jasmin.platform.uow() as ctx:
        mos = [m for m in messaging.conversation(ctx, ALICE) if m.direction == "mo"]
    assert [(m.text) for m in mos] == ["0000"]


def test_order_code_and_confirmation_end_to_end_through_jasmin(via_jasmin: SmppRig, upstream: FakeSmsc) -> None:
    from mingbai.subscriptions.service import place_order

    with via_jasmin.platform.uow() as ctx:
        place_order(ctx, msisdn=BOB, service_code="SINA-NEWS", channel="sp", actor="test")
    via_jasmin.platform.deliver()
    via_jasmin.wait_states({"delivered"}, msisdn=BOB, timeout=30)
    (code_sms,) = upstream.messages(BOB)
    upstream.send_mo(BOB, "10086", code_from(code_sms))  # the subscriber answers with the code
    wait_until(lambda: len(upstream.messages(BOB)) >= 2, 30, lambda: f"no confirmation; got {upstream.messages(BOB)}")
    assert "您已定制试用新浪的头条新闻业务" in upstream.messages(BOB)[1]
    rows = via_jasmin.wait_states({"delivered"}, msisdn=BOB, timeout=30)
    assert len(rows) == 2


def test_long_mo_in_udh_parts_reaches_mingbai_as_one_message(via_jasmin: SmppRig, upstream: FakeSmsc) -> None:
    long_text = "我想查询一下我的业务" * 10  # nonsense to the router: it answers with help
    upstream.send_mo(ALICE, "10086", long_text, parts=3)
    via_jasmin.wait_states({"delivered"}, msisdn=ALICE, timeout=30)
    with via_jasmin.platform.uow() as ctx:
        mos = messaging.conversation(ctx, ALICE)
    assert [m.text for m in mos if m.direction == "mo"] == [long_text]
