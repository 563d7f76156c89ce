"""Disputes in the consoles (issue 15): the agent decides with one action and sees the rule and
the evidence; supervisors see discretionary refunds; the subscriber and the SP see theirs."""

from __future__ import annotations

import re

from tests.consoles.conftest import post_form, sign_in, sign_in_subscriber
from tests.disputes.conftest import charge, subscribed
from tests.helpers import ALICE


def test_agent_opens_a_dispute_with_one_action_and_sees_rule_and_evidence(app, platform):
    sub = subscribed(platform)
    trial_fee = charge(platform, subscription_id=sub, period="2026-04")
    c = sign_in(app, "agent")
    page = c.get(f"/agent/subscribers/{ALICE}/disputes")
    assert page.status_code == 200 and str(trial_fee) in page.text
    evidence = c.get(f"/agent/subscribers/{ALICE}/evidence", params={"charge": trial_fee})
    assert evidence.status_code == 200
    assert "计费差错" in evidence.text and "BE01" in evidence.text  # the rule's reading, before any action
    assert re.search(r'id="confirming-mo">\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}', evidence.text)
    r = post_form(
        c,
        f"/agent/subscribers/{ALICE}/disputes",
        f"/agent/subscribers/{ALICE}/disputes",
        {"charge_id": str(trial_fee), "words": "试用期被扣费"},
    )
    assert r.status_code == 303
    decided = c.get(r.headers["location"])
    assert "计费差错" in decided.text and "¥5.00" in decided.text and "争议已受理" in decided.text
    assert "试用期被扣费" in decided.text


def test_verification_discretionary_refund_supervisor_portal_and_sp(app, platform):
    sub = subscribed(platform)
    fee = charge(platform, subscription_id=sub, period="2026-05")
    agent = sign_in(app, "agent")
    r = post_form(
        agent,
        f"/agent/subscribers/{ALICE}/disputes",
        f"/agent/subscribers/{ALICE}/disputes",
        {"charge_id": str(fee), "keep_service": "true"},
    )
    url = r.headers["location"].split("?")[0]
    assert "核查中" in agent.get(url).text
    assert url.rsplit("/", 1)[1] in agent.get("/agent/disputes").text  # in the queue of open disputes
    r = post_form(
        agent,
        url,
        url + "/decision",
        {"outcome": "verified_legitimate", "discretionary_refund": "true", "reason": "老客户坚持"},
    )
    assert r.status_code == 303
    page = agent.get(url).text
    assert "酌情退费" in page and "老客户坚持" in page
    supervisor = sign_in(app, "supervisor")
    totals = supervisor.get("/ops/disputes").text
    assert "老客户坚持" in totals and "¥5.00" in totals
    me = sign_in_subscriber(app, platform, ALICE)
    mine = me.get("/me/disputes").text
    assert "已处理" in mine and "酌情退费" in mine
    sina = sign_in(app, "sina")
    refunds = sina.get("/sp/refunds").text
    assert "138****8000" in refunds and ALICE not in refunds


def test_subscriber_opens_a_dispute_on_the_portal(app, platform):
    sub = subscribed(platform)
    fee = charge(platform, subscription_id=sub, period="2026-04")
    me = sign_in_subscriber(app, platform, ALICE)
    r = post_form(me, "/me/disputes", "/me/disputes", {"charge_id": str(fee), "words": "我没有用过"})
    assert r.status_code == 303
    page = me.get(r.headers["location"]).text
    assert "已处理" in page and "计费差错" in page and "¥5.00" in page
