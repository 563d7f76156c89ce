"""The gateway interface every SMS path implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


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
