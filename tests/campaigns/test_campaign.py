"""Stock-wide reminder campaign (R4, seed 004): batches, one SMS per subscriber per batch,
pacing at the set rate, quiet hours, resumable, progress."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from mingbai.campaigns import rules
from mingbai.campaigns.service import campaign_progress, pause_campaign, plan_campaign, release_due, start_campaign
from mingbai.clock import SHANGHAI
from mingbai.messaging.models import OutboundSms
from mingbai.messaging.rules import parse_quiet_hours
from mingbai.subscriptions.models import Subscription
from tests.helpers import ALICE, BOB, subscribe

CAROL = "13700137000"  # easyown


def _subscribe_all(platform) -> None:  # type: ignore[no-untyped-def]
    for svc in ("SINA-NEWS", "SINA-WEATHER", "QQ-TONES"):
        subscribe(platform, ALICE, svc)  # gotone, 3 subscriptions
    subscribe(platform, CAROL, "SINA-NEWS")  # easyown
    subscribe(platform, CAROL, "QQ-TONES")


def test_batches_follow_the_seed_table() -> None:
    table = rules.batch_table()
    assert [b.no for b in table] == list(range(1, 34))
    assert rules.batch_no("easyown", "wap", True) == 2 and rules.batch_no("easyown", "other", False) == 9
    assert rules.batch_no("mzone", "wap", True) == 10 and rules.batch_no("gotone", "other", False) == 25
    assert rules.batch_no("unknown", "sms", True) == 28


def test_pacing_skips_quiet_hours_and_never_bursts() -> None:
    quiet = parse_quiet_hours("21:00-08:00")
    start = datetime(2026, 4, 10, 20, 59, 59, tzinfo=SHANGHAI)
    s = rules.next_slots(
        now=start,
        cursor=None,
        starts_at=start,
        ends_at=start + timedelta(days=1),
        rate=10,
        quiet=quiet,
        horizon=timedelta(seconds=2),
        remaining=1000,
    )
    assert s is not None and s.count == 10  # only the last second before 21:00
    night = datetime(2026, 4, 10, 23, 0, tzinfo=SHANGHAI)
    assert (
        rules.next_slots(
            now=night,
            cursor=s.cursor,
            starts_at=start,
            ends_at=start + timedelta(days=1),
            rate=10,
            quiet=quiet,
            horizon=timedelta(seconds=2),
            remaining=1000,
        )
        is None
    )
    morning = datetime(2026, 4, 11, 8, 0, tzinfo=SHANGHAI)
    m = rules.next_slots(
        now=morning,
        cursor=s.cursor,
        starts_at=start,
        ends_at=start + timedelta(days=1),
        rate=10,
        quiet=quiet,
        horizon=timedelta(seconds=2),
        remaining=1000,
    )
    assert m is not None and m.first == morning and m.count == 20  # no catch-up burst for the night
    assert rules.sending_seconds(start, start + timedelta(days=1), quiet) == pytest.approx(
        13 * 3600
    )  # 1 s before 21:00 + 08:00–20:59:59


def test_campaign_plans_batches_and_sends_one_sms_per_subscriber_per_batch(platform, clock) -> None:  # type: ignore[no-untyped-def]
    _subscribe_all(platform)
    # make one of ALICE's subscriptions old (ordered more than 3 months ago)
    with platform.uow() as ctx:
        ctx.session.execute(
            update(Subscription)
            .where(Subscription.msisdn == ALICE, Subscription.service_code == "QQ-TONES")
            .values(confirmed_at=clock.now() - timedelta(days=120))
        )
    start = clock.now()
    with platform.uow() as ctx:
        plan = plan_campaign(
            ctx, name="存量提醒", starts_at=start, ends_at=start + timedelta(days=2), rate_per_s=5, actor="t"
        )
        start_campaign(ctx, plan.id)
    # ALICE (gotone): SINA-NEWS sms recent → 20; SINA-WEATHER sms recent → 20; QQ-TONES wap old → 19
    # CAROL (easyown): SINA-NEWS sms recent → 4; QQ-TONES wap recent → 2
    assert plan.batches == {2: 1, 4: 1, 19: 1, 20: 1} and plan.planned == 4
    for _ in range(3):
        with platform.uow() as ctx:
            release_due(ctx)
        clock.advance(timedelta(seconds=1))
    with platform.uow() as ctx:
        rows = list(
            ctx.session.execute(
                select(OutboundSms).where(OutboundSms.kind == "campaign").order_by(OutboundSms.due_at)
            ).scalars()
        )
        progress = campaign_progress(ctx, plan.id)
    assert [(r.msisdn, r.dedupe_key) for r in rows] == [
        (CAROL, f"campaign:{plan.id}:2"),
        (CAROL, f"campaign:{plan.id}:4"),
        (ALICE, f"campaign:{plan.id}:19"),
        (ALICE, f"campaign:{plan.id}:20"),
    ]
    alice_20 = rows[3].text
    assert "1.新浪提供的头条新闻短信业务,信息费5元/月;2.新浪提供的" in alice_20 and "QQ" not in alice_20
    assert "拨打10086" in alice_20 and "发送“0000”到10086" in alice_20
    assert all(r.bulk and r.segmentation == "numbered" for r in rows)
    # paced at 5/s: due times 0.2 s apart
    assert (rows[1].due_at - rows[0].due_at) == timedelta(milliseconds=200)
    assert progress.status == "done" and progress.released == 4 and progress.counts["queued"] == 4
    # releasing again writes nothing (resumable, idempotent)
    with platform.uow() as ctx:
        assert release_due(ctx) == 0
    platform.deliver()
    with platform.uow() as ctx:
        assert campaign_progress(ctx, plan.id).delivered == 4


def test_sensitive_subscribers_get_one_sms_with_everything_in_batch_1(platform, clock) -> None:  # type: ignore[no-untyped-def]
    for svc in ("SINA-NEWS", "SINA-WEATHER", "QQ-TONES", "QQ-GAME", "SOHU-TRAFFIC", "SOHU-MMS"):
        subscribe(platform, BOB, svc)
    with platform.uow() as ctx:
        plan = plan_campaign(
            ctx, name="s", starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=5), rate_per_s=10, actor="t"
        )
        start_campaign(ctx, plan.id)
        release_due(ctx)
        (row,) = ctx.session.execute(select(OutboundSms).where(OutboundSms.kind == "campaign")).scalars()
    assert plan.batches == {1: 1} and row.text.count("业务,") >= 6 and "6." in row.text


def test_campaign_is_resumable_after_a_pause_and_respects_unsubscriptions(platform, clock) -> None:  # type: ignore[no-untyped-def]
    _subscribe_all(platform)
    with platform.uow() as ctx:
        plan = plan_campaign(
            ctx, name="r", starts_at=clock.now(), ends_at=clock.now() + timedelta(days=1), rate_per_s=1, actor="t"
        )
        start_campaign(ctx, plan.id)
        first = release_due(ctx)  # 2 slots in the first 2 s
        pause_campaign(ctx, plan.id)
    assert first == 2
    platform.receive_sms(ALICE, "10086", "00000")  # ALICE unsubscribes everything meanwhile
    clock.advance(timedelta(hours=1))
    with platform.uow() as ctx:
        assert release_due(ctx) == 0  # paused
        start_campaign(ctx, plan.id)
        release_due(ctx)
        p = campaign_progress(ctx, plan.id)
    assert p.released == 4 and p.written == 2  # ALICE's later batches found nothing left to remind of


def test_window_and_rate_are_validated(platform, clock) -> None:  # type: ignore[no-untyped-def]
    from mingbai.errors import InvalidInput

    with platform.uow() as ctx, pytest.raises(InvalidInput):
        plan_campaign(ctx, name="x", starts_at=clock.now(), ends_at=clock.now(), actor="t")
    with platform.uow() as ctx, pytest.raises(InvalidInput):
        plan_campaign(
            ctx, name="x", starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=1), quiet_hours="9pm", actor="t"
        )


def test_a_window_of_centuries_is_refused_at_once(platform, clock) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis: a start in the year 829 made planning walk every quiet-hours
    boundary since then (12 s). A window is at most 366 days, and says so."""
    from mingbai.errors import InvalidInput

    now = clock.now()
    with platform.uow() as ctx, pytest.raises(InvalidInput, match="at most 366 days"):
        plan_campaign(ctx, name="x", starts_at=now.replace(year=829), ends_at=now, actor="t")
    with platform.uow() as ctx:  # a year is still fine
        plan = plan_campaign(ctx, name="x", starts_at=now, ends_at=now + timedelta(days=366), rate_per_s=5, actor="t")
    assert plan.sending_seconds > 0


def test_a_campaign_in_quiet_hours_says_it_waits_until_they_end() -> None:
    quiet = parse_quiet_hours("21:00-08:00")
    night = datetime(2026, 8, 20, 23, 30, tzinfo=SHANGHAI)
    window = {"starts_at": night - timedelta(hours=3), "ends_at": night + timedelta(days=30), "quiet": quiet}
    why = rules.waiting_reason(night, status="running", released=0, planned=4, **window)
    assert why == ("quiet_hours", datetime(2026, 8, 21, 8, 0, tzinfo=SHANGHAI))
    early = datetime(2026, 8, 21, 7, 59, tzinfo=SHANGHAI)
    assert rules.waiting_reason(early, status="running", released=0, planned=4, **window) == why
    day = datetime(2026, 8, 21, 10, 0, tzinfo=SHANGHAI)
    assert rules.waiting_reason(day, status="running", released=0, planned=4, **window) is None
    assert rules.waiting_reason(night, status="paused", released=0, planned=4, **window) is None
    assert rules.waiting_reason(night, status="running", released=4, planned=4, **window) is None
    before = {**window, "starts_at": night + timedelta(days=1)}
    assert rules.waiting_reason(night, status="running", released=0, planned=4, **before) == (
        "not_started",
        night + timedelta(days=1),
    )
