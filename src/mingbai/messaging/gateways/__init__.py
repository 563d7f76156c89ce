"""SMS gateways behind one small interface (loopback today; SMPP to an SMSC later)."""

from mingbai.messaging.gateways.base import Gateway, GatewayWiring, PullingGateway, SubmitResult
from mingbai.messaging.gateways.loopback import LoopbackGateway

__all__ = ["Gateway", "GatewayWiring", "LoopbackGateway", "PullingGateway", "SubmitResult"]
