"""The SMPP gateway against a fake SMSC: submit, receipts, MO, concatenation, durability."""

from __future__ import annotations

from mingbai.messaging import service as messaging
from tests.helpers import ALICE, BOB, code_from
from tests.smpp.conftest import SmppRig
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
