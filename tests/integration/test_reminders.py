"""The 21st–25th reminder (R4): set-based, numbered parts, once per month."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from mingbai.clock import SHANGHAI
from mingbai.messaging.rules import ucs2_units
from tests.helpers import ALICE, BOB, subscribe


def test_monthly_reminder_lists_this_months_orders_once(platform, clock, gateway):
    for service in ("SINA-NEWS", "QQ-TONES", "SOHU-MMS"):
        subscribe(platform, ALICE, service)
    subscribe(platform, BOB, "SINA-WEATHER")
    subscribe(platform, BOB, "QQ-GAME")  # per use: not a monthly order
    platform.receive_sms(BOB, "10086", "TDSINA-WEATHER")  # ended: nothing to remind
    # nothing before the 21st
    assert platform.tick().monthly_reminders == 0
    clock.set(datetime(2026, 4, 21, 7, 59, tzinfo=SHANGHAI))
    assert platform.tick().monthly_reminders == 0  # not before 08:00
    clock.set(datetime(2026, 4, 21, 9, 0, tzinfo=SHANGHAI))
    before = len(gateway.delivered)
    report = platform.tick()
    assert report.monthly_reminders == 1
    delivered = [d for d in list(gateway.delivered)[before:] if d.recipient == ALICE]
    (reminder,) = delivered
    parts = reminder.parts
    assert len(parts) >= 2 and parts[0].startswith("(1/") and parts[-1].startswith(f"({len(parts)}/")
    assert all(ucs2_units(p) <= 70 for p in parts)
    joined = "".join(p.split(")", 1)[1] for p in parts)
    assert "1.新浪提供的头条新闻短信业务,信息费5元/月" in joined and "3.搜狐提供的彩信杂志" in joined
    assert "本月内退订下月不再收费" in joined and "0000" in joined
    # a second pass the same day, and on the 25th, writes nothing
    assert platform.tick().monthly_reminders == 0
    clock.set(datetime(2026, 4, 25, 20, 0, tzinfo=SHANGHAI))
    assert platform.tick().monthly_reminders == 0
    with platform.uow() as ctx:
        n = ctx.session.execute(text("SELECT count(*) FROM sms_outbox WHERE kind = 'monthly_reminder'")).scalar()
    assert n == 1


def test_tick_twice_sends_nothing_twice(platform, clock, gateway):
    subscribe(platform)
    clock.set(datetime(2026, 4, 22, 10, 0, tzinfo=SHANGHAI))
    first = platform.tick()
    second = platform.tick()
    assert first.sent >= 1 and second.sent == 0 and second.monthly_reminders == 0
    clock.advance(timedelta(days=30))  # May 22nd: April's order is not "this month"
    assert platform.tick().monthly_reminders == 0


def test_two_reminder_passes_at_once_write_each_reminder_once(pg_platform, clock, pg_url):
    """Two schedulers on the 21st (PostgreSQL, real threads): the period's advisory lock makes
    the second wait and then find every subscriber reminded; neither fails."""
    import threading
    import time

    from mingbai.db import Database, make_engine
    from mingbai.platform import Platform
    from mingbai.subscriptions import reminders

    for m, service in ((ALICE, "SINA-NEWS"), (BOB, "QQ-TONES"), (ALICE, "SOHU-MMS")):
        subscribe(pg_platform, m, service)
    clock.set(datetime(2026, 4, 21, 9, 0, tzinfo=SHANGHAI))
    other = Platform(pg_platform.settings, clock=clock, database=Database(make_engine(pg_url)))
    written: list[int] = []
    errors: list[BaseException] = []
    first_wrote = threading.Event()

    def remind(p: Platform, first: bool) -> None:
        try:
            if not first:
                first_wrote.wait(10)  # the first pass holds its rows, uncommitted, for a while
            with p.uow() as ctx:
                written.append(reminders.send_monthly_reminders(ctx).written)
                if first:
                    first_wrote.set()
                    time.sleep(0.5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=remind, args=(p, p is pg_platform)) for p in (pg_platform, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    other.db.engine.dispose()
    assert not errors and sorted(written) == [0, 2]
