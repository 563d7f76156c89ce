"""Routes a mobile-originated SMS to the capability that owns its destination number.

Capabilities register handlers when the platform is built (10086 → subscriptions; an SP's
access number → keyword orders; 10086999 → spam reports), so messaging imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mingbai.db import Ctx


@dataclass(frozen=True)
class Mo:
    msisdn: str
    recipient: str
    text: str
    mo_id: int


#: a handler enqueues its replies and returns a short label of what it did
MoHandler = Callable[[Ctx, Mo], str]


class MoRouter:
    def __init__(self) -> None:
        self._exact: dict[str, MoHandler] = {}
        self._fallback: list[MoHandler] = []

    def route(self, number: str, handler: MoHandler) -> None:
        if number in self._exact:
            raise ValueError(f"number {number} already has a handler")
        self._exact[number] = handler

    def fallback(self, handler: MoHandler) -> None:
        """Tried for numbers nobody claimed (e.g. SP access numbers); returns "" to pass."""
        self._fallback.append(handler)

    def dispatch(self, ctx: Ctx, mo: Mo) -> str:
        handler = self._exact.get(mo.recipient)
        if handler is not None:
            return handler(ctx, mo)
        for fb in self._fallback:
            label = fb(ctx, mo)
            if label:
                return label
        return "unrouted"
