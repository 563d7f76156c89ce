"""The composition root: settings, clock, database, SMS gateway, the MO router and intake.

Adapters (CLI, HTTP, scheduler) build one :class:`Platform` and call its use cases; each
call is one unit of work that commits or rolls back as a whole. MOs enter through
``platform.intake`` (:mod:`mingbai.messaging.inbound`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from mingbai.accounts import service as accounts
from mingbai.audit import service as audit
from mingbai.auth.service import KeyCache
from mingbai.campaigns import service as campaigns
from mingbai.charging import schedule as charging_schedule
from mingbai.charging import sms as charging_sms
from mingbai.clock import Clock, SystemClock
from mingbai.config import Settings
from mingbai.db import Ctx, Database, make_engine
from mingbai.disputes import service as disputes
from mingbai.errors import MingbaiError
from mingbai.messaging import service as messaging
from mingbai.messaging.gateways import Gateway, GatewayWiring, LoopbackGateway, PullingGateway
from mingbai.messaging.inbound import MoReceiver, MoResult
from mingbai.messaging.router import MoRouter
from mingbai.spam import sms as spam_sms
from mingbai.subscriptions import reminders
from mingbai.subscriptions import sms as subscriptions_sms
from mingbai.vault import service as vault
from mingbai.vault import sms as vault_sms


@dataclass(frozen=True)
class TickReport:
    expired_orders: int
    monthly_reminders: int
    sent: int
    extra: dict[str, int] = field(default_factory=dict)


def build_router(vault_number: str = vault_sms.VAULT_NUMBER) -> MoRouter:
    """Every capability registers its own numbers; the order matters only where one wraps
    another's (charging's objections see 10086 before the subscriptions do)."""
    router = MoRouter()
    for register in (subscriptions_sms.register, charging_sms.register, spam_sms.register):
        register(router)
    vault_sms.register(router, vault_number)
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
        self.router = build_router(settings.vault_number)
        #: where every MO enters (the SMPP gateway, the HTTP hook, the handset, the CLI)
        self.intake = MoReceiver(self.uow, lambda: self.clock.now(), self.router)
        #: API keys that authenticated in the last seconds (auth.service.KeyCache)
        self.key_cache = KeyCache()

    @property
    def handset_enabled(self) -> bool:
        """The demo handset shows anyone's codes and sends as anyone, so it exists only in the
        demo (``MINGBAI_DEMO=1``) and with the in-process gateway, never when real SMS flow."""
        return self.settings.demo and isinstance(self.gateway, LoopbackGateway)

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

    def wiring(self) -> GatewayWiring:
        """What a pulling gateway (SMPP) is handed when it starts."""
        return GatewayWiring(
            uow=self.uow,
            now=lambda: self.clock.now(),
            intake=self.intake,
            quiet_hours=self.settings.quiet_hours,
        )

    # The MO use case lives in messaging.inbound; these two keep the many tests and benchmarks
    # that drive a platform short. Adapters take ``platform.intake`` (an ``MoIntake``).
    def receive_sms(
        self, sender: str, recipient: str, text: str, *, within: Callable[[Ctx], None] | None = None
    ) -> MoResult:
        return self.intake.receive(sender, recipient, text, within=within)

    def receive_many(self, messages: Sequence[tuple[str, str, str]]) -> list[MoResult | MingbaiError]:
        return self.intake.receive_many(messages)

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
            redacted = messaging.redact_spent_codes(ctx)
        with self.uow() as ctx:
            # seed 004: a dispute not verified within 3 days is refunded, without the return
            unverified = disputes.expire_overdue(ctx)
        with self.uow() as ctx:
            # the audit chain's head signed every N minutes or M entries (issue 16)
            signed = audit.checkpoint_due(
                ctx,
                every_minutes=self.settings.audit_checkpoint_minutes,
                every_entries=self.settings.audit_checkpoint_entries,
            )
            vault_expired = vault.expire_due(ctx)
        extra = charging_schedule.scheduled(self)
        sent = self.deliver()
        return TickReport(
            expired,
            written,
            len({s.outbox_id for s in sent}),
            {
                "console_sessions_purged": purged,
                "campaign_released": released,
                "codes_redacted": redacted,
                "disputes_unverified": unverified,
                "audit_checkpoint": 0 if signed is None else signed.seq,
                "vault_expired": vault_expired,
                **extra,
            },
        )
