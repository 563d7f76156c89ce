"""The real SMS path: Mingbai as an ESME bound to the operator's SMSC (SMPP 3.4).

From the wire up: :mod:`.pdu` (command ids, deliver_sm / submit_sm), :mod:`.settings`
(:class:`SmppConfig`), :mod:`.session` (one bound transceiver connection), :mod:`.mo` (MOs to
the platform's intake), :mod:`.gateway` (the engine: lease, claims, pacing, group commits).
docs/SMS.md tells the whole story.
"""

from mingbai.messaging.gateways.smpp.gateway import GatewayStatus, SmppGateway
from mingbai.messaging.gateways.smpp.mo import SmppMoLane
from mingbai.messaging.gateways.smpp.pdu import ESME_RX_P_APPN, Inbound, decode_deliver, encode_submit, status_name
from mingbai.messaging.gateways.smpp.session import BindRefused, SessionLost, SmppError, SmppSession, check_bind
from mingbai.messaging.gateways.smpp.settings import SmppConfig

__all__ = [
    "ESME_RX_P_APPN",
    "BindRefused",
    "GatewayStatus",
    "Inbound",
    "SessionLost",
    "SmppConfig",
    "SmppError",
    "SmppGateway",
    "SmppMoLane",
    "SmppSession",
    "check_bind",
    "decode_deliver",
    "encode_submit",
    "status_name",
]
