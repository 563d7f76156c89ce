"""The acceptance interfaces: ``mingbai dispute|disputes|evidence|audit`` and the REST API."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mingbai.cli.main import app
from tests.disputes.conftest import charge, subscribed
from tests.helpers import ALICE, key_header

runner = CliRunner()


def test_cli_open_decide_list_evidence_audit(platform, cli, tmp_path):
    sub = subscribed(platform)
    trial_fee = charge(platform, subscription_id=sub, period="2026-04")
    may_fee = charge(platform, subscription_id=sub, period="2026-05")
    out = json.loads(
        cli(
            "dispute",
            "open",
            "--msisdn",
            ALICE,
            "--charge",
            str(trial_fee),
            "--channel",
            "hotline",
            "--words",
            "没订过",
            "--keep-service",
            "--json",
        )
    )
    assert {"id", "rule", "refund_fen", "return_fen", "status", "evidence"} <= set(out)
    assert (out["rule"], out["refund_fen"], out["return_fen"], out["status"]) == ("billing_error", 500, 500, "decided")
    assert out["evidence"][0]["findings"][0]["code"] == "BE01"
    assert out["words"] == "没订过"
    second = json.loads(
        cli("dispute", "open", "--msisdn", ALICE, "--charge", str(may_fee), "--channel", "hall", "--json")
    )
    assert second["status"] == "verifying" and second["rule"] is None
    decided = json.loads(cli("dispute", "decide", str(second["id"]), "--outcome", "not_verifiable", "--json"))
    assert (decided["rule"], decided["refund_fen"], decided["return_fen"]) == ("unverified_3d", 500, 0)
    cli("dispute", "decide", str(second["id"]), "--outcome", "maybe", code=1)
    listed = json.loads(cli("disputes", "--msisdn", ALICE, "--json"))
    assert sorted(d["id"] for d in listed) == sorted([out["id"], second["id"]])

    chain = json.loads(cli("evidence", "--msisdn", ALICE, "--charge", str(may_fee), "--json"))
    assert chain["confirming_mo"]["handled_as"] == "code_confirmed" and chain["confirming_mo"]["text"]
    assert chain["confirming_mo"]["received_at"] == "2026-04-10T02:00:00Z"
    assert "验证码" in chain["confirmation_request"]["text"]
    assert chain["order"]["channel"] == "sp" and chain["charge"]["id"] == may_fee
    assert "dispute_opened" in [e["kind"] for e in chain["events"]]
    cli("evidence", "--msisdn", ALICE, "--charge", "1", code=1)

    audit = json.loads(cli("audit", "consent", "--json"))
    assert audit == {"charges_checked": 2, "orphans": [], "orphan_count": 0}


def test_cli_audit_exits_1_on_an_orphan(platform, cli):
    from datetime import date

    from tests.charging.conftest import add_subscription
    from tests.disputes.conftest import sh

    sub = add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 3), first_charge_on=date(2026, 3, 1)
    )
    cid = charge(platform, subscription_id=sub, period="2026-03")
    result = runner.invoke(app, ["--db", str(platform.settings.database_url), "audit", "consent", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["charges_checked"] == 1 and [o["charge_id"] for o in report["orphans"]] == [cid]


h = key_header


def test_api_open_decide_and_the_sp_sees_its_refunds_masked(platform, client):
    sub = subscribed(platform)
    fee = charge(platform, subscription_id=sub, period="2026-04")
    r = client.post(f"/api/v1/subscribers/{ALICE}/disputes", json={"charge_ids": [fee]}, headers=h("sina"))
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/subscribers/{ALICE}/disputes", json={"charge_ids": [fee], "request_ref": "x1"}, headers=h("a1")
    )
    assert r.status_code == 201, r.text
    d = r.json()
    assert (d["rule"], d["refund_fen"], d["return_fen"], d["channel"]) == ("billing_error", 500, 500, "hotline")
    again = client.post(
        f"/api/v1/subscribers/{ALICE}/disputes", json={"charge_ids": [fee], "request_ref": "x1"}, headers=h("a1")
    ).json()
    assert again["replayed"] and again["id"] == d["id"]
    assert client.get(f"/api/v1/disputes/{d['id']}", headers=h("o1")).json()["id"] == d["id"]
    assert client.get("/api/v1/disputes/0", headers=h("o1")).status_code == 404
    r = client.post(f"/api/v1/disputes/{d['id']}/decision", json={"outcome": "not_verifiable"}, headers=h("h1"))
    assert r.status_code == 409
    refunds = client.get("/api/v1/refunds", headers=h("sina")).json()
    assert [(x["msisdn"], x["refund_fen"], x["return_fen"], x["sp_owes_fen"]) for x in refunds] == [
        ("138****8000", 500, 500, 1000)
    ]
    assert client.get("/api/v1/refunds", headers=h("qq")).json() == []
    ev = client.get(f"/api/v1/subscribers/{ALICE}/evidence", params={"charge": fee}, headers=h("a1")).json()
    assert ev["confirming_mo"]["handled_as"] == "code_confirmed"
    audit = client.get("/api/v1/audit/consent", headers=h("o1")).json()
    assert audit["orphan_count"] == 0 and audit["charges_checked"] == 1
    assert client.get("/api/v1/audit/consent", headers=h("a1")).status_code == 403
    r = client.post("/api/v1/dispute-policies", json={"category": "wap", "policy": "refund_first"}, headers=h("o1"))
    assert r.status_code == 201
    assert [p["policy"] for p in client.get("/api/v1/dispute-policies", headers=h("a1")).json()] == ["refund_first"]
    assert client.post(f"/api/v1/subscribers/{ALICE}/disputes", json={}, headers=h("a1")).status_code == 422
