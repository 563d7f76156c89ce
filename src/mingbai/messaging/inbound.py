"""MO intake: a mobile-originated SMS arrives, is routed, answered and kept.

The one way in for every MO, whoever carries it (the SMPP gateway, the SMS centre's HTTP hook,
the demo handset, ``mingbai sms send``): they depend on :class:`MoIntake` only. The
composition root builds one :class:`MoReceiver` with its unit-of-work factory and the router
the capabilities registered their numbers with.

Each MO is one unit of work: handled, its replies written to the outbox, the MO recorded with
what it was handled as. A refused or failed MO still is recorded, with an apology, after its
handler's work was rolled back. Many MOs at once (:meth:`MoReceiver.receive_many`) share units
of work, one MO per subscriber in each *wave*, and give each MO the answer it would get alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mingbai.db import Ctx
from mingbai.errors import InvalidInput, MingbaiError
from mingbai.ids import new_id
from mingbai.messaging import service as messaging
from mingbai.messaging import texts
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.router import Mo, MoRouter
from mingbai.messaging.rules import waves
from mingbai.msisdn import mask_msisdn, normalize_msisdn

log = logging.getLogger(__name__)

#: SMS text is free input from any handset; keep what a phone can send, drop control noise
_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)}

#: opens one transaction (``Platform.uow``)
UnitOfWork = Callable[[], AbstractContextManager[Ctx]]


@dataclass(frozen=True)
class MoResult:
    mo_id: int
    handled_as: str
    replies: list[messaging.SentSms]


class MoIntake(Protocol):
    """Where an MO enters Mingbai (what the gateways, the HTTP hook and the CLI depend on)."""

    def receive(
        self, sender: str, recipient: str, text: str, *, within: Callable[[Ctx], None] | None = None
    ) -> MoResult: ...

    def receive_many(self, messages: Sequence[tuple[str, str, str]]) -> list[MoResult | MingbaiError]: ...


class MoReceiver:
    """The MO use case: validate, route, answer, keep (see the module's docstring)."""

    def __init__(self, uow: UnitOfWork, now: Callable[[], datetime], router: MoRouter) -> None:
        self.uow = uow
        #: the platform's clock, read at each MO (tests swap the clock)
        self.now = now
        self.router = router

    def receive(
        self,
        sender: str,
        recipient: str,
        text: str,
        *,
        within: Callable[[Ctx], None] | None = None,
    ) -> MoResult:
        """An MO arrives: record it, route it, answer it. The MO is kept even when handling fails.

        Returns the replies written to the outbox (already delivered with an in-process gateway;
        a network gateway's dispatcher sends them after the commit). ``within`` runs in the same
        transaction (the SMPP gateway drops the stored parts of a concatenated MO there, so an
        MO is never handled twice nor lost)."""
        return self._receive_one(_mo(sender, recipient, text), self.now(), within)

    def receive_many(self, messages: Sequence[tuple[str, str, str]]) -> list[MoResult | MingbaiError]:
        """Many MOs ``(sender, recipient, text)``, as an SMSC delivers them under load.

        They share units of work, one MO per subscriber in each (a subscriber's later MO sees
        what the earlier did), and the handlers that can decide many at once (code replies,
        keyword orders) do so with a fixed number of statements; any other MO is handled alone
        within the batch, behind a savepoint. Each MO gets the answer :meth:`receive` would
        give it: its result, or the error that refused it before it was recorded (a malformed
        sender or recipient). If a batch fails unexpectedly, its MOs are handled one by one.
        """
        results: list[MoResult | MingbaiError | None] = [None] * len(messages)
        todo: list[tuple[int, Mo]] = []
        for i, (sender, recipient, text) in enumerate(messages):
            try:
                todo.append((i, _mo(sender, recipient, text)))
            except MingbaiError as exc:
                results[i] = exc
        received_at = self.now()
        for wave in waves([mo.msisdn for _, mo in todo]):
            items = [todo[k] for k in wave]
            mos = [mo for _, mo in items]
            try:
                done = self._receive_wave(mos, received_at)
            except Exception:
                log.exception("a batch of %s MOs failed; handling them one at a time", len(mos))
                done = [self._receive_one(mo, received_at) for mo in mos]
            for (i, _), result in zip(items, done, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def _receive_one(self, mo: Mo, received_at: datetime, within: Callable[[Ctx], None] | None = None) -> MoResult:
        try:
            with self.uow() as ctx:
                label = self.router.dispatch(ctx, mo)
                # written after handling, with its outcome: one INSERT instead of INSERT + UPDATE
                _keep(ctx, mo, label, received_at, within)
            return MoResult(mo.mo_id, label, messaging.as_sms(ctx.enqueued, reveal=ctx.settings.demo))
        except MingbaiError as exc:
            label = "error"
            apology = texts.refused(exc.code)
        except Exception:
            log.exception("MO %s from %s to %s failed", mo.mo_id, mask_msisdn(mo.msisdn), mo.recipient)
            label = "failed"
            apology = texts.BUSY
        # The handler's work was rolled back as a whole; the MO and an answer are still kept.
        # (No savepoint on the happy path: it would cost two round trips on every MO.)
        with self.uow() as ctx:
            _apologise(ctx, mo, apology)
            _keep(ctx, mo, label, received_at, within)
        return MoResult(mo.mo_id, label, messaging.as_sms(ctx.enqueued, reveal=ctx.settings.demo))

    def _receive_wave(self, mos: list[Mo], received_at: datetime) -> list[MoResult]:
        """MOs of distinct subscribers in one unit of work (see :meth:`receive_many`)."""
        with self.uow() as ctx:
            labels = self.router.dispatch_many(ctx, mos)
            replies: dict[int, list[messaging.Outgoing]] = {}
            for o in ctx.enqueued:
                if o.mo_id is not None:
                    replies.setdefault(o.mo_id, []).append(o)
            handled: list[str] = []
            for mo, label in zip(mos, labels, strict=True):
                if label is None:
                    start = len(ctx.enqueued)
                    label = self._alone(ctx, mo)
                    replies[mo.mo_id] = ctx.enqueued[start:]
                elif isinstance(label, MingbaiError):
                    _apologise(ctx, mo, texts.refused(label.code))
                    replies[mo.mo_id] = [ctx.enqueued[-1]]
                    label = "error"
                handled.append(label)
            messaging.record_mos(
                ctx,
                [
                    messaging.InboundRecord(mo.msisdn, mo.recipient, mo.text, label, mo.mo_id, received_at)
                    for mo, label in zip(mos, handled, strict=True)
                ],
            )
        return [
            MoResult(mo.mo_id, label, messaging.as_sms(replies.get(mo.mo_id, []), reveal=ctx.settings.demo))
            for mo, label in zip(mos, handled, strict=True)
        ]

    def _alone(self, ctx: Ctx, mo: Mo) -> str:
        """One MO of a batch through its single handler, behind a savepoint: refused, it leaves
        nothing but its apology. An unexpected error fails the whole batch (handled singly)."""
        start = len(ctx.enqueued)
        try:
            with ctx.savepoint():
                return self.router.dispatch(ctx, mo)
        except MingbaiError as exc:
            del ctx.enqueued[start:]
            _apologise(ctx, mo, texts.refused(exc.code))
            return "error"


def _mo(sender: str, recipient: str, text: str) -> Mo:
    msisdn = normalize_msisdn(sender)
    recipient = recipient.strip()
    if not recipient.isdigit() or not 3 <= len(recipient) <= 21:
        raise InvalidInput("recipient must be a service number of 3–21 digits, e.g. 10086", code="bad_recipient")
    return Mo(msisdn, recipient, text.translate(_CONTROL), new_id())


def _keep(ctx: Ctx, mo: Mo, label: str, received_at: datetime, within: Callable[[Ctx], None] | None) -> None:
    """Record the MO with what it was handled as, and run the caller's ``within`` in the same
    transaction."""
    messaging.record_mos(ctx, [messaging.InboundRecord(mo.msisdn, mo.recipient, mo.text, label, mo.mo_id, received_at)])
    if within is not None:
        within(ctx)


def _apologise(ctx: Ctx, mo: Mo, text: str) -> None:
    """Answer an MO that was not taken (its handler's work is gone; the MO is still kept)."""
    messaging.enqueue(ctx, msisdn=mo.msisdn, kind=MessageKind.REPLY, mo_id=mo.mo_id, text=text)
