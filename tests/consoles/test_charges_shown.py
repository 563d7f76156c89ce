"""Charging's data reaches the consoles: the agent sees a subscriber's charges, the subscriber
sees them and the month's third-party items in the portal."""

from __future__ import annotations

from datetime import datetime

from mingbai.charging.billing import run_billing
from mingbai.charging.rules import parse_billing_period
from mingbai.clock import SHANGHAI
from tests.consoles.conftest import sign_in, sign_in_subscriber
from tests.helpers import ALICE, subscribe


def test_charges_in_agent_console_and_portal(app, platform, clock):
    clock.set(datetime(2026, 2, 10, 10, 0, tzinfo=SHANGHAI))
    subscribe(platform, ALICE, "SINA-NEWS")  # trial to the end of February
    clock.set(datetime(2026, 3, 1, 0, 30, tzinfo=SHANGHAI))
    run_billing(platform, parse_billing_period("2026-03"), actor="test")
    clock.set(datetime(2026, 3, 5, 10, 0, tzinfo=SHANGHAI))
    source = app.state.charge_source  # registered by the composition root (web/app.py)
    assert source is not None
    with platform.uow() as ctx:
        (line,) = source.charges(ctx, msisdn=ALICE, since=datetime(2026, 1, 1).date())
        summary = source.bill(ctx, msisdn=ALICE, period="2026-03")
    assert (line.service_code, line.amount_fen, line.kind, line.period) == ("SINA-NEWS", 500, "monthly", "2026-03")
    assert summary is not None and summary.total_fen == 500 and summary.lines[0].sp_name == "新浪"
    agent = sign_in(app, "agent")
    for page in (
        agent.get(f"/agent/subscribers/{ALICE}").text,
        sign_in_subscriber(app, platform, ALICE).get("/me").text,
    ):
        charges = page.split('id="charges-h"', 1)[1] if 'id="charges-h"' in page else page
        assert "<td>头条新闻</td><td>新浪</td>" in charges, charges[:2000]
