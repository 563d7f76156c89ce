"""Hypothesis state machine over the SMS and API edges (R2, R5):

* no subscription exists without a confirmation (every active one traces to a confirmed order
  whose code the subscriber sent), and
* no subscriber ever holds two active subscriptions to one service,
whatever order of orders, right/wrong/late codes, "0000", menu picks, TD and time passing.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import text

from mingbai.errors import MingbaiError
from mingbai.platform import Platform
from mingbai.subscriptions.service import place_order
from tests.helpers import code_from, last_delivered, owner_uow

SUBSCRIBERS = ["13800138000", "13900139000"]
SERVICES = ["SINA-NEWS", "QQ-TONES", "QQ-GAME", "SOHU-TRAFFIC"]


def run_machine(platform: Platform, clock, max_examples: int) -> None:
    class Consent(RuleBasedStateMachine):
        @initialize()
        def reset(self) -> None:
            with owner_uow(platform) as ctx:  # mo_message is append-only for the platform
                for table in ("subscription", "sub_order", "sms_outbox", "mo_message", "unsubscribe_menu"):
                    ctx.session.execute(text(f"DELETE FROM {table}"))
            self.codes: dict[str, list[str]] = {m: [] for m in SUBSCRIBERS}
            self.confirmed_by_sms: set[tuple[str, str]] = set()

        @rule(m=st.sampled_from(SUBSCRIBERS), s=st.sampled_from(SERVICES), ch=st.sampled_from(["sp", "web", "hall"]))
        def place(self, m: str, s: str, ch: str) -> None:
            try:
                with platform.uow() as ctx:
                    place_order(ctx, msisdn=m, service_code=s, channel=ch, actor="machine")
            except MingbaiError:
                return
            self.codes[m].append(code_from(last_delivered(platform, m)))

        @rule(m=st.sampled_from(SUBSCRIBERS), data=st.data())
        def reply_known_code(self, m: str, data: st.DataObject) -> None:
            if not self.codes[m]:
                return
            code = data.draw(st.sampled_from(self.codes[m]))
            platform.receive_sms(m, "10086", code)

        @rule(m=st.sampled_from(SUBSCRIBERS), guess=st.text(alphabet="0123456789", min_size=6, max_size=6))
        def reply_guess(self, m: str, guess: str) -> None:
            platform.receive_sms(m, "10086", guess)

        @rule(m=st.sampled_from(SUBSCRIBERS), body=st.sampled_from(["0000", "00000", "1", "2", "1 2", "TDQQ-TONES"]))
        def unsubscribe_commands(self, m: str, body: str) -> None:
            platform.receive_sms(m, "10086", body)

        @rule(minutes=st.integers(min_value=1, max_value=45))
        def time_passes(self, minutes: int) -> None:
            clock.advance(timedelta(minutes=minutes))
            platform.tick()

        @invariant()
        def every_subscription_was_confirmed_once(self) -> None:
            with platform.uow() as ctx:
                orphans = ctx.session.execute(
                    text(
                        "SELECT count(*) FROM subscription s LEFT JOIN sub_order o "
                        "ON o.msisdn = s.msisdn AND o.id = s.order_id "
                        "WHERE o.id IS NULL OR o.status <> 'confirmed' OR o.decided_at IS NULL"
                    )
                ).scalar()
                confirmations = ctx.session.execute(
                    text(
                        "SELECT count(*) FROM subscription_event e JOIN subscription s "
                        "ON s.msisdn = e.msisdn AND s.id = e.subscription_id WHERE e.kind = 'order_confirmed' "
                        "AND e.channel = 'sms' AND e.actor = 'subscriber:' || s.msisdn"
                    )
                ).scalar()
                subs = ctx.session.execute(text("SELECT count(*) FROM subscription")).scalar()
            assert orphans == 0
            assert confirmations == subs

        @invariant()
        def at_most_one_active_per_service(self) -> None:
            with platform.uow() as ctx:
                dupes = ctx.session.execute(
                    text(
                        "SELECT count(*) FROM (SELECT msisdn, service_code FROM subscription WHERE status = 'active' "
                        "GROUP BY msisdn, service_code HAVING count(*) > 1) d"
                    )
                ).scalar()
            assert dupes == 0

    Consent.TestCase.settings = settings(
        max_examples=max_examples,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Consent.TestCase().runTest()


def test_consent_state_machine(platform, clock, db_url):
    run_machine(platform, clock, max_examples=40 if db_url.startswith("sqlite") else 15)
