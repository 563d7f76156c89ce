"""The dashboard counts the outbox kinds the writers actually write (issue 11, move 2).

It used to count ``deduction_reminder`` while billing writes ``charge_reminder``, so the
month's 4 million deduction reminders never showed on the operator's chart."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from mingbai.charging.billing import run_billing
from mingbai.charging.rules import parse_billing_period
from mingbai.clock import SHANGHAI
from mingbai.consoles.dashboard import dashboard
from mingbai.consoles.i18n import enum_translator
from mingbai.messaging.kinds import REMINDER_KINDS, MessageKind
from mingbai.subscriptions.reminders import send_monthly_reminders
from tests.charging.conftest import add_subscription
from tests.consoles.conftest import sign_in
from tests.helpers import ALICE, BOB, subscribe

DAY = date(2026, 4, 22)


def _every_reminder_sent(platform, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 4, 22, 10, 0, tzinfo=SHANGHAI))
    add_subscription(
        platform,
        msisdn=BOB,
        service="SINA-WEATHER",
        confirmed_at=datetime(2026, 3, 5, 9, tzinfo=SHANGHAI),
        first_charge_on=date(2026, 3, 5),
    )
    subscribe(platform, ALICE, "SINA-NEWS")  # confirmation request, order reminder
    clock.advance(timedelta(minutes=1))
    with platform.uow() as ctx:
        assert send_monthly_reminders(ctx).written == 1  # ALICE ordered this month
    run = run_billing(platform, parse_billing_period("2026-04"), actor="test")
    assert run.charged == 1, run  # BOB's deduction reminder
    platform.receive_sms(ALICE, "10086", "0000")
    platform.receive_sms(ALICE, "10086", "00000")  # unsubscription notice
    platform.deliver()


def test_dashboard_counts_the_deduction_reminders_a_billing_run_writes(app, platform, clock):
    _every_reminder_sent(platform, clock)
    with platform.uow() as ctx:
        (day,) = dashboard(ctx, DAY, DAY).days
    assert day.reminders.get(MessageKind.CHARGE_REMINDER) == 1
    # every kind the dashboard counts is one that some flow writes
    assert set(day.reminders) == set(REMINDER_KINDS)


def test_dashboard_page_labels_the_deduction_reminders(app, platform, clock):
    _every_reminder_sent(platform, clock)
    html = sign_in(app, "operator").get("/ops", params={"start": DAY.isoformat(), "end": DAY.isoformat()}).text
    for lang in ("zh-CN", "en"):
        label = enum_translator(lang)("kind", MessageKind.CHARGE_REMINDER)
        assert label != MessageKind.CHARGE_REMINDER
    assert enum_translator("zh-CN")("kind", MessageKind.CHARGE_REMINDER) in html
