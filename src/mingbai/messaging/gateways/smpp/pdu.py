"""SMPP 3.4 on the wire: command ids, and the two PDUs Mingbai builds or reads itself.

aiosmpplib's protocol classes do the encoding (codings, UDH, receipt text); this module adds
the receipt TLVs and the shape the gateway wants (:class:`Inbound`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiosmpplib.protocol import DeliverSm, SubmitSm
from aiosmpplib.state import NPI, TON, PduHeader, PhoneNumber, SmppCommand, SmppCommandStatus

from mingbai.messaging.gateways.smpp.settings import SmppConfig
from mingbai.messaging.rules import ESM_CLASS_UDHI, MESSAGE_STATE_STAT, AirPart

# command ids (SMPP 3.4 §5.1.2.1)
GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER_RESP = 0x80000009
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
ESME_RX_P_APPN = 0x65
ESME_RSYSERR = 0x08
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427
MAX_PDU = 70_000


def status_name(code: int) -> str:
    try:
        return str(SmppCommandStatus(code).name)
    except ValueError:
        return f"0x{code:08X}"


# -- inbound -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """A decoded deliver_sm: a receipt (``receipt`` set) or an MO (``text``, maybe a part)."""

    source: str
    destination: str
    text: str
    receipt: tuple[str, str, str | None] | None = None  # (smsc id, stat, err)
    concat: tuple[int, int, int] | None = None  # (ref, total, seq)


def decode_deliver(pdu: bytes, seq: int) -> Inbound:
    """Decode a deliver_sm with aiosmpplib (UDH → parts, codings, receipt text) plus TLV receipts."""
    header = PduHeader(
        pdu_length=len(pdu),
        smpp_command=SmppCommand.DELIVER_SM,
        command_status=SmppCommandStatus.ESME_ROK,
        sequence_num=seq,
    )
    msg = DeliverSm.from_pdu(pdu, header, "gsm0338")
    text: str = msg.short_message or msg.message_payload
    source: str = msg.source.number
    destination: str = msg.destination.number
    if msg.is_receipt():
        fields = msg.parse_receipt()
        tlvs = {p.tag: p.value for p in (msg.optional_params or [])}
        smsc_id = str(fields.get("id") or tlvs.get(TAG_RECEIPTED_MESSAGE_ID) or "").strip()
        stat = str(fields.get("stat") or "")
        if not stat and TAG_MESSAGE_STATE in tlvs:
            stat = MESSAGE_STATE_STAT.get(int(tlvs[TAG_MESSAGE_STATE]), "UNKNOWN")
        err = fields.get("err")
        if not smsc_id:
            raise ValueError("delivery receipt without a message id")
        return Inbound(source, destination, text, receipt=(smsc_id, stat, None if err is None else f"{err}"))
    concat = None
    if msg.is_segmented():
        ref, seq_no, total = msg.get_segmentation_data()
        if total > 1:
            concat = (int(ref), int(total), int(seq_no))
    return Inbound(source, destination, text, concat=concat)


def encode_submit(config: SmppConfig, sender: str, recipient: str, part: AirPart, seq: int) -> bytes:
    msg = SubmitSm(
        short_message=part.text or " ",
        source=PhoneNumber(sender or config.source_addr, TON(config.source_ton), NPI(config.source_npi)),
        destination=PhoneNumber(recipient, TON(config.dest_ton), NPI(config.dest_npi)),
        esm_class=ESM_CLASS_UDHI if part.udh else 0,
        registered_delivery=1,
        encoding="ucs2",
    )
    msg.set_encoded_message(part.payload)
    msg.sequence_num = seq
    pdu: bytes = msg.pdu()
    return pdu
