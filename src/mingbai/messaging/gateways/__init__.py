"""SMS gateways behind one small interface (loopback today; SMPP to an SMSC later)."""

from mingbai.messaging.gateways.base import Gateway, PullingGateway, SubmitResult
from mingbai.messaging.gateways.loopback import LoopbackGateway

__all__ = ["Gateway", "LoopbackGateway", "PullingGateway", "SubmitResult"]
