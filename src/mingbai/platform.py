"""The assembled platform: settings, clock, database, SMS gateway and MO routing.

Adapters (CLI, HTTP, scheduler) build one :class:`Platform` and call its use cases; each
call is one unit of work that commits or rolls back as a whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from mingbai.accounts import service as accounts
from mingbai.auth.service import KeyCache
from mingbai.campaigns import service as campaigns
from mingbai.charging import billing
from mingbai.charging.sms import with_objections
from mingbai.clock import Clock, SystemClock
from mingbai.config import Settings
from mingbai.db import Ctx, Database, make_engine
from mingbai.disputes import service as disputes
from mingbai.errors import InvalidInput, MingbaiError
from mingbai.ids import new_id
from mingbai.messaging import service as messaging
from mingbai.messaging.gateways import Gateway, LoopbackGateway, PullingGateway
from mingbai.messaging.router import Mo, MoRouter
from mingbai.msisdn import mask_msisdn, normalize_msisdn
from mingbai.spam.sms import handle_10086999
from mingbai.subscriptions import reminders
from mingbai.subscriptions import service as subscriptions
from mingbai.subscriptions.sms import handle_10086, handle_10086_batch, handle_sp_number, handle_sp_numbers_batch

log = logging.getLogger(__name__)

#: SMS text is free input from any handset; keep what a phone can send, drop control noise
_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)}


@dataclass(frozen=True)
class MoResult:
    mo_id: int
    handled_as: str
    replies: list[messaging.SentSms]


@dataclass(frozen=True)
class TickReport:
    expired_orders: int
    monthly_reminders: int
    sent: int
    extra: dict[str, int] = field(default_factory=dict)


def _keep(ctx: Ctx, mo: Mo, label: str, received_at: datetime, within: Callable[[Ctx], None] | None) -> None:
    """Record the MO with what it was handled as, and run the caller's ``within`` in the same
    transaction."""
    messaging.record_mos(ctx, [messaging.InboundRecord(mo.msisdn, mo.recipient, mo.text, label, mo.mo_id, received_at)])
    if within is not None:
        within(ctx)


def _apologise(ctx: Ctx, mo: Mo, text: str) -> None:
    """Answer an MO that was not taken (its handler's work is gone; the MO is still kept)."""
    messaging.enqueue(ctx, msisdn=mo.msisdn, kind="reply", mo_id=mo.mo_id, text=text)


def _apology(exc: MingbaiError) -> str:
    return f"您的请求未能受理({exc.code})。查询已订购业务请发送0000到10086。中国移动"


def build_router() -> MoRouter:
    router = MoRouter()
    # the batch handler takes only code replies (digits), never an objection ("YY" + code)
    router.route("10086", with_objections(handle_10086), batch=handle_10086_batch)
    router.route("10086999", handle_10086999)
    router.fallback(handle_sp_number, batch=handle_sp_numbers_batch)
    return router


class Platform:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        gateway: Gateway | PullingGateway | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db = database or Database(make_engine(settings.database_url))
        self.gateway: Gateway | PullingGateway = gateway or LoopbackGateway()
        self.router = build_router()
        #: API keys that authenticated in the last seconds (auth.service.KeyCache)
        self.key_cache = KeyCache()

    @property
    def handset_enabled(self) -> bool:
        """The demo handset may impersonate any subscriber, so it exists only with the
        in-process gateway, never when real SMS flow."""
        return isinstance(self.gateway, LoopbackGateway)

    @contextmanager
    def uow(self) -> Iterator[Ctx]:
        """One transaction. With an in-process gateway, the MTs it writes are delivered in it."""
        with self.db.session() as session:
            yield Ctx(
                session=session,
                clock=self.clock,
                settings=self.settings,
                inline_gateway=None
                if isinstance(self.gateway, PullingGateway) or not self.gateway.inline
                else self.gateway,
            )

    def receive_sms(
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
        return self._receive_one(self._mo(sender, recipient, text), self.clock.now(), within)

    def receive_many(self, messages: Sequence[tuple[str, str, str]]) -> list[MoResult | MingbaiError]:
        """Many MOs ``(sender, recipient, text)``, as an SMSC delivers them under load.

        They share units of work, one MO per subscriber in each (a subscriber's later MO sees
        what the earlier did), and the handlers that can decide many at once (code replies,
        keyword orders) do so with a fixed number of statements; any other MO is handled alone
        within the batch, behind a savepoint. Each MO gets the answer :meth:`receive_sms` would
        give it: its result, or the error that refused it before it was recorded (a malformed
        sender or recipient). If a batch fails unexpectedly, its MOs are handled one by one.
        """
        results: list[MoResult | MingbaiError | None] = [None] * len(messages)
        todo: list[tuple[int, Mo]] = []
        for i, (sender, recipient, text) in enumerate(messages):
            try:
                todo.append((i, self._mo(sender, recipient, text)))
            except MingbaiError as exc:
                results[i] = exc
        received_at = self.clock.now()
        for wave in subscriptions.waves([mo.msisdn for _, mo in todo]):
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

    def _mo(self, sender: str, recipient: str, text: str) -> Mo:
        msisdn = normalize_msisdn(sender)
        recipient = recipient.strip()
        if not recipient.isdigit() or not 3 <= len(recipient) <= 21:
            raise InvalidInput("recipient must be a service number of 3–21 digits, e.g. 10086", code="bad_recipient")
        return Mo(msisdn, recipient, text.translate(_CONTROL), new_id())

    def _receive_one(self, mo: Mo, received_at: datetime, within: Callable[[Ctx], None] | None = None) -> MoResult:
        try:
            with self.uow() as ctx:
                label = self.router.dispatch(ctx, mo)
                # written after handling, with its outcome: one INSERT instead of INSERT + UPDATE
                _keep(ctx, mo, label, received_at, within)
            return MoResult(mo.mo_id, label, messaging.as_sms(ctx.enqueued))
        except MingbaiError as exc:
            label = "error"
            apology = _apology(exc)
        except Exception:
            log.exception("MO %s from %s to %s failed", mo.mo_id, mask_msisdn(mo.msisdn), mo.recipient)
            label = "failed"
            apology = "系统繁忙,您的短信已记录,请稍后再试。中国移动"
        # The handler's work was rolled back as a whole; the MO and an answer are still kept.
        # (No savepoint on the happy path: it would cost two round trips on every MO.)
        with self.uow() as ctx:
            _apologise(ctx, mo, apology)
            _keep(ctx, mo, label, received_at, within)
        return MoResult(mo.mo_id, label, messaging.as_sms(ctx.enqueued))

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
                    _apologise(ctx, mo, _apology(label))
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
            MoResult(mo.mo_id, label, messaging.as_sms(replies.get(mo.mo_id, [])))
            for mo, label in zip(mos, handled, strict=True)
        ]

    def _alone(self, ctx: Ctx, mo: Mo) -> str:
        """One MO of a batch through its single handler, behind a savepoint: refused, it leaves
        nothing but its apology. An unexpected error fails the whole batch (handled singly)."""
        start = len(ctx.enqueued)
        try:
            with ctx.session.begin_nested():
                return self.router.dispatch(ctx, mo)
        except MingbaiError as exc:
            del ctx.enqueued[start:]
            _apologise(ctx, mo, _apology(exc))
            return "error"

    def deliver(self, *, msisdn: str | None = None, batch: int = 500) -> list[messaging.SentSms]:
        """Hand every due MT to the gateway (optionally only one subscriber's).

        A pulling gateway (SMPP) sends on its own: it is only nudged, and nothing is returned."""
        gateway = self.gateway
        if isinstance(gateway, PullingGateway):
            gateway.nudge()
            return []
        sent: list[messaging.SentSms] = []
        while True:
            with self.uow() as ctx:
                got = messaging.dispatch_due(ctx, gateway, limit=batch, msisdn=msisdn)
            sent.extend(got)
            if len({s.outbox_id for s in got}) < batch:
                return sent

    def tick(self) -> TickReport:
        """Everything due up to now; safe to run twice (every step is idempotent)."""
        with self.uow() as ctx:
            expired = reminders.expire_due(ctx)
        written = 0
        with self.uow() as ctx:
            if reminders.monthly_reminder_due(ctx.now()):
                written = reminders.send_monthly_reminders(ctx).written
        with self.uow() as ctx:
            purged = accounts.purge_stale(ctx)
        with self.uow() as ctx:
            released = campaigns.release_due(ctx)
        with self.uow() as ctx:
            # seed 004: a dispute not verified within 3 days is refunded, without the return
            unverified = disputes.expire_overdue(ctx)
        extra = billing.scheduled(self)
        sent = self.deliver()
        return TickReport(
            expired,
            written,
            len({s.outbox_id for s in sent}),
            {
                "console_sessions_purged": purged,
                "campaign_released": released,
                "disputes_unverified": unverified,
                **extra,
            },
        )
