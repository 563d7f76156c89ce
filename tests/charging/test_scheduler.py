"""Platform.tick raises the month's fees on the 1st and catches up re-orders during the month."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from mingbai.charging.billing import list_runs
from mingbai.charging.service import list_charges
from mingbai.clock import SHANGHAI
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE, BOB, order, subscribe


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_tick_on_the_first_runs_the_month_once(platform, clock):
    add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 2, 9), first_charge_on=date(2026, 2, 2)
    )
    clock.set(sh(2026, 4, 30, 23, 59, 59))
    platform.tick()  # April's run happens on the first tick ever; May has not begun
    clock.set(sh(2026, 5, 1, 0, 0, 1))
    first = platform.tick()
    assert first.extra["billing_charged"] == 1
    clock.advance(timedelta(seconds=5))
    assert "billing_charged" not in platform.tick().extra  # done for May: not run again
    with platform.uow() as ctx:
        periods = [c.period for c in list_charges(ctx, msisdn=ALICE)]
        runs = list_runs(ctx, period="2026-05")
    assert periods == ["2026-04", "2026-05"]
    assert [(r.mode, r.status, r.actor) for r in runs] == [("full", "done", "scheduler")]


def test_reorder_during_the_month_owes_the_month_at_confirmation(platform, clock, gateway):
    platform.tick()  # April's run: nothing to charge yet
    subscribe(platform)  # first order on 04-10: trial, free
    platform.receive_sms(ALICE, "10086", "TDSINA-NEWS")
    clock.advance(timedelta(hours=1))
    _, code = order(platform)
    assert platform.receive_sms(ALICE, "10086", code).handled_as == "code_confirmed"  # re-order: no trial
    clock.advance(timedelta(seconds=5))
    report = platform.tick()
    assert report.extra["billing_catchup"] == 1
    with platform.uow() as ctx:
        (charge,) = list_charges(ctx, msisdn=ALICE)
    assert (charge.period, charge.amount_fen) == ("2026-04", 500)
    assert "新浪头条新闻业务4月信息费5元已扣除" in "".join(gateway.delivered[-1].parts)
    clock.advance(timedelta(seconds=5))
    assert platform.tick().extra["billing_catchup"] == 0  # the watermark moved on; nothing twice


def test_reorder_on_the_last_evening_is_charged_for_that_month_after_midnight(platform, clock):
    clock.set(sh(2026, 3, 31, 12))
    platform.tick()
    add_subscription(
        platform,
        msisdn=BOB,
        service="QQ-TONES",
        confirmed_at=sh(2026, 3, 31, 23, 59, 30),
        first_charge_on=date(2026, 3, 31),
    )
    clock.set(sh(2026, 4, 1, 0, 0, 10))
    report = platform.tick()
    assert (report.extra["billing_charged"], report.extra["billing_catchup"]) == (1, 1)
    with platform.uow() as ctx:
        assert sorted(c.period for c in list_charges(ctx, msisdn=BOB)) == ["2026-03", "2026-04"]
