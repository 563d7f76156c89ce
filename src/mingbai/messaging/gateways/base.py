"""The gateway interface every SMS path implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mingbai.messaging.inbound import MoIntake, UnitOfWork


@dataclass(frozen=True)
class SubmitResult:
    #: the gateway's (SMSC's) message id, for matching delivery receipts
    ref: str
    #: True when the gateway already knows the handset has it (loopback), else a receipt will tell
    delivered: bool


class Gateway(Protocol):
    name: str
    #: True for an in-process gateway that delivers synchronously (loopback): the outbox rows
    #: of a unit of work are then delivered inside it, before the commit
    inline: bool

    def submit(self, *, sender: str, recipient: str, parts: list[str], outbox_id: int) -> SubmitResult:
        """Hand one MT (already cut into parts) to the network."""
        ...


@runtime_checkable
class PullingGateway(Protocol):
    """A gateway that takes due MTs from the outbox by itself (SMPP, in its own process or
    thread): ``Platform.deliver`` only nudges it, and replies go out asynchronously."""

    name: str

    def nudge(self) -> None:
        """New MTs may be due: look now rather than at the next poll. Thread-safe."""
        ...


@dataclass(frozen=True)
class GatewayWiring:
    """What a pulling gateway needs from the platform, handed to it when it starts (the
    composition root builds it: ``Platform.wiring()``)."""

    #: opens one transaction (outbox claims, events, the lease, MO parts)
    uow: UnitOfWork
    #: the platform's clock, read at each call (tests swap it)
    now: Callable[[], datetime]
    #: where MOs go
    intake: MoIntake
    #: when bulk MTs wait (``Settings.quiet_hours``, "HH:MM-HH:MM" or empty)
    quiet_hours: str
