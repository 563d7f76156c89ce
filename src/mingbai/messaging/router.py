"""Routes a mobile-originated SMS to the capability that owns its destination number.

Each capability registers its own numbers when the platform is built (``register(router)`` in
its ``sms`` module: 10086 and SP access numbers → subscriptions, objections on 10086 →
charging, 10086999 → spam reports), so messaging imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mingbai.db import Ctx
from mingbai.errors import MingbaiError


@dataclass(frozen=True)
class Mo:
    msisdn: str
    recipient: str
    text: str
    mo_id: int


#: a handler enqueues its replies and returns a short label of what it did
MoHandler = Callable[[Ctx, Mo], str]

#: decides many MOs in one unit of work, writing nothing for one it refuses. For each MO: a
#: label; a MingbaiError (answered as a refused MO is); None, "let the single handler do this
#: one"; or, from a fallback, "" for "not mine".
MoBatchHandler = Callable[[Ctx, list[Mo]], list[str | MingbaiError | None]]


class MoRouter:
    def __init__(self) -> None:
        self._exact: dict[str, MoHandler] = {}
        self._exact_batch: dict[str, MoBatchHandler] = {}
        self._fallback: list[MoHandler] = []
        self._fallback_batch: list[MoBatchHandler] = []

    def route(self, number: str, handler: MoHandler, *, batch: MoBatchHandler | None = None) -> None:
        """``batch``, if given, takes the MOs it can decide set-based (see :meth:`dispatch_many`)."""
        if number in self._exact:
            raise ValueError(f"number {number} already has a handler")
        self._exact[number] = handler
        if batch is not None:
            self._exact_batch[number] = batch

    def wrap(self, number: str, wrapper: Callable[[MoHandler], MoHandler]) -> None:
        """Let another capability see a number's MOs first (``wrapper`` gets the registered
        handler and returns the one to use). The number's batch handler is kept: it must take
        only what the wrapper passes through."""
        if number not in self._exact:
            raise ValueError(f"number {number} has no handler to wrap")
        self._exact[number] = wrapper(self._exact[number])

    def fallback(self, handler: MoHandler, *, batch: MoBatchHandler | None = None) -> None:
        """Tried for numbers nobody claimed (e.g. SP access numbers); returns "" to pass."""
        self._fallback.append(handler)
        if batch is not None:
            self._fallback_batch.append(batch)

    def dispatch(self, ctx: Ctx, mo: Mo) -> str:
        handler = self._exact.get(mo.recipient)
        if handler is not None:
            return handler(ctx, mo)
        for fb in self._fallback:
            label = fb(ctx, mo)
            if label:
                return label
        return "unrouted"

    def dispatch_many(self, ctx: Ctx, mos: list[Mo]) -> list[str | MingbaiError | None]:
        """Hand MOs to the batch handlers of their numbers. None marks an MO no batch handler
        took: the caller runs :meth:`dispatch` for it, on its own."""
        out: list[str | MingbaiError | None] = [None] * len(mos)
        exact: dict[str, list[int]] = {}
        rest: list[int] = []
        for i, mo in enumerate(mos):
            if mo.recipient in self._exact:
                if mo.recipient in self._exact_batch:
                    exact.setdefault(mo.recipient, []).append(i)
            else:
                rest.append(i)
        for number, idx in exact.items():
            labels = self._exact_batch[number](ctx, [mos[i] for i in idx])
            for i, label in zip(idx, labels, strict=True):
                out[i] = label
        for batch in self._fallback_batch:
            if not rest:
                break
            labels = batch(ctx, [mos[i] for i in rest])
            passed = []
            for i, label in zip(rest, labels, strict=True):
                if label == "":
                    passed.append(i)
                else:
                    out[i] = label
            rest = passed
        return out
