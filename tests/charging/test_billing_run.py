"""The monthly run on SQLite and PostgreSQL: who is charged, once, with a reminder each."""

from __future__ import annotations

import dataclasses
import random
import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mingbai.charging import texts
from mingbai.charging.billing import list_runs, run_billing
from mingbai.charging.models import Charge
from mingbai.charging.rules import SkipReason, monthly_skip_reason, parse_billing_period
from mingbai.charging.service import list_charges
from mingbai.clock import SHANGHAI
from mingbai.errors import InvalidInput
from mingbai.messaging.models import OutboundSms
from mingbai.messaging.rules import parts_for
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE, BOB, subscribe

APRIL = parse_billing_period("2026-04")
MAY = parse_billing_period("2026-05")
CAROL = "13700137000"


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def at_first_of(clock, period, hour: int = 0, minute: int = 5) -> None:
    clock.set(
        datetime.combine(period.first_day, datetime.min.time(), tzinfo=SHANGHAI) + timedelta(hours=hour, minutes=minute)
    )


def charges_of(platform, msisdn: str, period: str | None = None):
    with platform.uow() as ctx:
        return list_charges(ctx, msisdn=msisdn, period=period)


def reminders(platform):
    with platform.uow() as ctx:
        return list(ctx.session.scalars(select(OutboundSms).where(OutboundSms.kind == "charge_reminder")))


def test_unsubscribing_before_the_first_at_midnight_shanghai_means_no_fee(platform, clock):
    add_subscription(
        platform,
        msisdn=ALICE,
        service="SINA-NEWS",
        confirmed_at=sh(2026, 1, 5, 9),
        first_charge_on=date(2026, 1, 5),
        unsubscribed_at=sh(2026, 3, 31, 23, 59, 59),
    )
    add_subscription(
        platform,
        msisdn=BOB,
        service="SINA-NEWS",
        confirmed_at=sh(2026, 1, 5, 9),
        first_charge_on=date(2026, 1, 5),
        unsubscribed_at=sh(2026, 4, 1, 0, 0, 0),
    )
    at_first_of(clock, APRIL)
    summary = run_billing(platform, APRIL, actor="test")
    assert charges_of(platform, ALICE) == []  # gone one second before the fee fell due
    (bob,) = charges_of(platform, BOB)  # still there at 00:00:00: the whole month is due
    assert (bob.period, bob.amount_fen, bob.kind) == ("2026-04", 500, "monthly")
    assert summary.charged == 1 and summary.skipped["unsubscribed_before_period"] == 1


def test_trial_month_is_never_charged_and_the_day_after_the_20th_decides(platform, clock):
    # confirmed 20日 23:59 → April is the first paid month; 21日 00:00 → March and April are free
    early = add_subscription(
        platform,
        msisdn=ALICE,
        service="SINA-NEWS",
        confirmed_at=sh(2026, 3, 20, 23, 59),
        trial=True,
        first_charge_on=date(2026, 4, 1),
    )
    late = add_subscription(
        platform,
        msisdn=BOB,
        service="SINA-NEWS",
        confirmed_at=sh(2026, 3, 21, 0, 0),
        trial=True,
        first_charge_on=date(2026, 5, 1),
    )
    at_first_of(clock, APRIL)
    april = run_billing(platform, APRIL, actor="test")
    assert [c.subscription_id for c in charges_of(platform, ALICE)] == [early]
    assert charges_of(platform, BOB) == []
    assert april.skipped["in_trial"] == 1
    at_first_of(clock, MAY)
    run_billing(platform, MAY, actor="test")
    assert [c.subscription_id for c in charges_of(platform, BOB, "2026-05")] == [late]


def test_first_order_through_sms_is_free_this_month_and_charged_next(platform, clock):
    subscribe(platform)  # 2026-04-10: trial, first fee on 2026-05-01
    at_first_of(clock, APRIL, hour=30 * 24)  # still April (the 30th)
    clock.set(sh(2026, 4, 30, 12))
    assert run_billing(platform, APRIL, actor="test").charged == 0
    at_first_of(clock, MAY)
    may = run_billing(platform, MAY, actor="test")
    assert may.charged == 1 and may.amount_fen == 500
    assert [(c.service_code, c.period) for c in charges_of(platform, ALICE)] == [("SINA-NEWS", "2026-05")]


def test_rerun_charges_nothing_twice_and_says_why(platform, clock):
    for i, msisdn in enumerate((ALICE, BOB, CAROL)):
        add_subscription(
            platform,
            msisdn=msisdn,
            service="SINA-NEWS",
            confirmed_at=sh(2026, 2, 1 + i, 10),
            first_charge_on=date(2026, 2, 1 + i),
        )
        add_subscription(
            platform,
            msisdn=msisdn,
            service="QQ-TONES",
            confirmed_at=sh(2026, 2, 1 + i, 11),
            first_charge_on=date(2026, 2, 1 + i),
        )
    add_subscription(
        platform, msisdn=ALICE, service="QQ-GAME", confirmed_at=sh(2026, 2, 1, 12), first_charge_on=date(2026, 2, 1)
    )
    at_first_of(clock, APRIL)
    first = run_billing(platform, APRIL, actor="test", chunk_size=2)
    assert (first.charged, first.amount_fen, first.reminders) == (6, 3 * 800, 6)
    assert first.seen == 7 and first.skipped["not_monthly"] == 1 and first.status == "done"
    assert first.chunks >= 3
    clock.advance(timedelta(hours=3))
    again = run_billing(platform, APRIL, actor="test", chunk_size=5)
    assert (again.charged, again.amount_fen, again.reminders) == (0, 0, 0)
    assert again.skipped["already_charged"] == 6
    with platform.uow() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Charge)) == 6
    assert len(reminders(platform)) == 6
    with platform.uow() as ctx:
        runs = list_runs(ctx, period="2026-04")
    assert [r.charged for r in runs] == [0, 6]  # newest first, both recorded with their figures


def test_every_charge_has_one_reminder_worded_like_the_python_template(platform, clock):
    add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 1, 10), first_charge_on=date(2026, 2, 1)
    )
    # agreed prices that are not whole yuan must read the same in SQL as in Python
    for service, price in (("SINA-WEATHER", 250), ("QQ-TONES", 5), ("SOHU-MMS", 1234)):
        add_subscription(
            platform,
            msisdn=ALICE,
            service=service,
            confirmed_at=sh(2026, 2, 1, 10),
            first_charge_on=date(2026, 2, 1),
            price_fen=price,
        )
    at_first_of(clock, APRIL)
    run_billing(platform, APRIL, actor="test")
    by_id = {c.id: c for c in charges_of(platform, ALICE)}
    rows = reminders(platform)
    assert sorted(r.id for r in rows) == sorted(by_id)
    for r in rows:
        c = by_id[r.id]
        # sent once by its primary key (id = the charge's), so it needs no dedupe key (0503)
        assert r.kind == "charge_reminder" and r.dedupe_key is None
        assert r.text == texts.monthly_reminder("4月", c.sp_name, c.service_name, c.amount_fen, c.service_code)
        # raised at 00:05, but nobody is texted at night: due at 08:00 Shanghai
        assert r.due_at == sh(2026, 4, 1, 8, 0)
    texts_by_service = {by_id[r.id].service_code: r.text for r in rows}
    assert "新浪头条新闻业务4月信息费5元已扣除" in texts_by_service["SINA-NEWS"]
    # one SMS segment, not two, for every one of the month's millions of reminders
    assert all(len(parts_for(t, "concat")) == 1 for t in texts_by_service.values())
    assert "信息费2.5元" in texts_by_service["SINA-WEATHER"]
    assert "信息费0.05元" in texts_by_service["QQ-TONES"]
    assert "信息费12.34元" in texts_by_service["SOHU-MMS"]
    assert "回复YYSOHU-MMS停止扣费" in texts_by_service["SOHU-MMS"]
    assert platform.deliver() == []
    clock.set(sh(2026, 4, 1, 8, 0))
    assert len(platform.deliver()) == 4


def test_the_run_takes_its_workers_from_the_settings(pg_platform, clock):
    """Left unsaid, the number of workers is MINGBAI_BILLING_WORKERS (PostgreSQL; SQLite: one)."""
    for msisdn in (ALICE, BOB, CAROL):
        add_subscription(
            pg_platform,
            msisdn=msisdn,
            service="SINA-NEWS",
            confirmed_at=sh(2026, 2, 1, 10),
            first_charge_on=date(2026, 3, 1),
        )
    at_first_of(clock, APRIL)
    threads: set[str] = set()

    def seen(_result):
        threads.add(threading.current_thread().name)

    pg_platform.settings = dataclasses.replace(pg_platform.settings, billing_workers=1)
    run_billing(pg_platform, APRIL, actor="test", chunk_size=1, on_chunk=seen)
    assert threads == {threading.current_thread().name}
    threads.clear()
    pg_platform.settings = dataclasses.replace(pg_platform.settings, billing_workers=3)
    summary = run_billing(pg_platform, APRIL, actor="test", chunk_size=1, on_chunk=seen)
    assert threads and all(t.startswith("billing") for t in threads)
    assert summary.status == "done" and summary.skipped["already_charged"] == 3


def test_a_period_that_has_not_begun_is_refused(platform, clock):
    with pytest.raises(InvalidInput, match="has not begun"):
        run_billing(platform, MAY, actor="test")


def test_sql_and_the_pure_rule_agree_on_every_kind_of_subscription(platform, clock):
    rnd = random.Random(4)
    at_first_of(clock, APRIL, hour=12 * 24)  # mid-April: the run is for the running month
    now = clock.now()
    cases = []
    msisdns = [f"1390000{i:04d}" for i in range(40)]
    with platform.uow() as ctx:
        from mingbai.catalog.rules import SubscriberIn
        from mingbai.catalog.service import save_subscriber

        for m in msisdns:
            save_subscriber(ctx, SubscriberIn(msisdn=m, province="湖南"))
    instants = [
        sh(2026, 3, 31, 23, 59, 59),
        sh(2026, 4, 1),
        sh(2026, 4, 1, 0, 0, 1),
        sh(2026, 2, 10),
        sh(2026, 4, 12, 23),
        now + timedelta(hours=1),
        sh(2026, 3, 21),
    ]
    for m in msisdns:
        for service in ("SINA-NEWS", "QQ-GAME", "SOHU-MMS"):
            confirmed = rnd.choice([*instants[:5], instants[6]])
            trial = rnd.random() < 0.4
            first = rnd.choice([None, date(2026, 4, 1), date(2026, 5, 1), date(2026, 3, 10), date(2026, 4, 12)])
            unsub = rnd.choice([None, None, *[i for i in instants if i > confirmed]])
            price = rnd.choice([0, 500, 250])
            if unsub is not None and unsub > now:
                unsub = None
            sub_id = add_subscription(
                platform,
                msisdn=m,
                service=service,
                confirmed_at=confirmed,
                trial=trial,
                first_charge_on=first,
                unsubscribed_at=unsub,
                price_fen=price,
            )
            billing = {"SINA-NEWS": "monthly", "QQ-GAME": "per_use", "SOHU-MMS": "monthly"}[service]
            cases.append(
                (
                    sub_id,
                    monthly_skip_reason(
                        billing=billing,
                        price_fen=price,
                        confirmed_at=confirmed,
                        unsubscribed_at=unsub,
                        first_charge_on=first,
                        period=APRIL,
                        now=now,
                    ),
                )
            )
    summary = run_billing(platform, APRIL, actor="test", chunk_size=7)
    with platform.uow() as ctx:
        charged = set(ctx.session.scalars(select(Charge.subscription_id)))
    expected = {sub_id for sub_id, reason in cases if reason is None}
    assert charged == expected
    for reason in SkipReason:
        if reason is not SkipReason.ALREADY_CHARGED:
            assert summary.skipped[reason.value] == sum(1 for _, r in cases if r is reason), reason
    assert summary.seen == len(cases)
