"""A confirmation, an expiry and an unsubscription racing on one order (PostgreSQL, real threads).

Three platforms share the database, each with its own clock: the subscriber's reply arrives a
second before the code's lifetime ends, the expiry job runs a second after it, and an agent
unsubscribes everything at the same moment. Whatever interleaving the database picks, the order
is decided exactly once and nothing contradicts it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text

from mingbai.clock import FixedClock
from mingbai.db import Database, make_engine
from mingbai.platform import Platform
from mingbai.subscriptions import reminders
from mingbai.subscriptions.service import unsubscribe
from tests.helpers import ALICE, order

ROUNDS = 25


def _race(subscriber_side: Platform, scheduler_side: Platform, agent_side: Platform, code: str) -> list[BaseException]:
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def confirm() -> None:
        subscriber_side.receive_sms(ALICE, "10086", code)

    def expire() -> None:
        with scheduler_side.uow() as ctx:
            reminders.expire_due(ctx)

    def agent() -> None:
        with agent_side.uow() as ctx:
            unsubscribe(ctx, msisdn=ALICE, channel="hotline", actor="agent:race")

    def run(fn: Callable[[], None]) -> None:
        barrier.wait()
        try:
            fn()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in (confirm, expire, agent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_confirm_expire_unsubscribe_race(pg_platform, clock, pg_url):
    platform, db_url = pg_platform, pg_url
    settings = platform.settings
    outcomes: dict[str, int] = {}
    for _ in range(ROUNDS):
        placed, code = order(platform)
        just_before = FixedClock(placed.expires_at - timedelta(seconds=1))
        just_after = FixedClock(placed.expires_at + timedelta(seconds=1))
        subscriber_side = Platform(settings, clock=just_before, database=Database(make_engine(db_url)))
        scheduler_side = Platform(settings, clock=just_after, database=Database(make_engine(db_url)))
        agent_side = Platform(settings, clock=just_before, database=Database(make_engine(db_url)))
        errors = _race(subscriber_side, scheduler_side, agent_side, code)
        for p in (subscriber_side, scheduler_side, agent_side):
            p.db.engine.dispose()
        assert not errors, errors

        with platform.uow() as ctx:
            status = ctx.session.execute(
                text("SELECT status FROM sub_order WHERE msisdn = :m AND id = :i"), {"m": ALICE, "i": placed.order_id}
            ).scalar_one()
            decided = ctx.session.execute(
                text(
                    "SELECT count(*) FROM subscription_event WHERE msisdn = :m AND order_id = :i "
                    "AND kind IN ('order_confirmed', 'order_expired')"
                ),
                {"m": ALICE, "i": placed.order_id},
            ).scalar()
            subs = (
                ctx.session.execute(
                    text("SELECT status FROM subscription WHERE msisdn = :m AND order_id = :i"),
                    {"m": ALICE, "i": placed.order_id},
                )
                .scalars()
                .all()
            )
            active = ctx.session.execute(
                text("SELECT count(*) FROM subscription WHERE msisdn = :m AND status = 'active'"), {"m": ALICE}
            ).scalar()
        assert decided == 1, "decided exactly once"
        assert status in ("confirmed", "expired")
        if status == "confirmed":
            assert len(subs) == 1 and subs[0] in ("active", "unsubscribed")
            key = f"confirmed+{subs[0]}"
        else:
            assert subs == []
            key = "expired"
        assert active <= 1
        outcomes[key] = outcomes.get(key, 0) + 1
        # leave nothing active for the next round
        with platform.uow() as ctx:
            unsubscribe(ctx, msisdn=ALICE, channel="hotline", actor="test")
        clock.advance(timedelta(hours=1))
    # the race really was a race: more than one ending was seen (or report which one always won)
    print("race outcomes:", outcomes)
    assert sum(outcomes.values()) == ROUNDS
