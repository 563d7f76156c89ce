"""The CLI and the HTTP API of the spam capability, with the role matrix."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mingbai.auth.service import create_key
from mingbai.cli.main import app
from mingbai.web.app import create_app
from tests.helpers import ALICE, BOB
from tests.spam.conftest import HAM_TEXT, SPAM_TEXT

runner = CliRunner()
PORT = "1065750012345"


@pytest.fixture
def cli(db_url):
    def run(*args: str, input: str | None = None, ok: bool = True) -> str:
        result = runner.invoke(app, ["--db", db_url, "--at", "2026-04-10T10:00:00+08:00", *args], input=input)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    run("seed", "demo")
    return run


def lines(*items: dict) -> str:
    return "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items)


def test_cli_check_json_lines(cli):
    out = cli(
        "spam",
        "check",
        "--json",
        input=lines(
            {"sender": ALICE, "recipient": BOB, "text": SPAM_TEXT},
            {"sender": ALICE, "recipient": BOB, "text": HAM_TEXT, "port_type": "person"},
            {"sender": PORT, "recipient": BOB, "text": "通知", "port_type": "industry"},
        ),
    )
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["verdict"] for r in results] == ["block", "pass", "block"]
    assert results[2]["reasons"] == ["port_unregistered"]
    assert all(set(r) == {"verdict", "score", "reasons", "strategy_version", "model_version"} for r in results)
    bad = cli(
        "spam",
        "check",
        "--json",
        input='{"sender": "x"}\n\n' + lines({"sender": ALICE, "recipient": BOB, "text": HAM_TEXT}),
        ok=False,
    )
    first, second = (json.loads(line) for line in bad.splitlines())
    assert first["line"] == 1 and "sender" in first["error"] and second["verdict"] == "pass"


def test_cli_governance_round_trip(cli):
    cli(
        "spam", "port", "register", PORT, "--owner", "中国工商银行", "--signature", "【工商银行】", "--province", "湖南"
    )
    signed = {"sender": PORT, "recipient": BOB, "text": "您的账户支出100元【工商银行】", "port_type": "industry"}
    assert json.loads(cli("spam", "check", "--json", input=lines(signed)))["verdict"] == "pass"
    cli(
        "spam",
        "strategy",
        "new",
        "--set",
        "port_warn_after=1",
        "--set",
        "port_penalise_after=1",
        "--set",
        "port_close_after=1",
        "--note",
        "严打",
        "--activate",
    )
    strategies = json.loads(cli("spam", "strategy", "list", "--json"))
    assert [(s["version"], s["active"]) for s in strategies] == [(1, False), (2, True)]
    assert json.loads(cli("spam", "strategy", "show"))["port_close_after"] == 1
    cli("sms", "send", "--from", ALICE, "--to", "10086999", f"{PORT}*贷款秒批")
    (rep,) = json.loads(cli("spam", "report", "list", "--json"))
    out = json.loads(cli("spam", "report", "confirm", str(rep["id"]), "--json"))
    assert out["sanction"] == f"port {PORT} closed"
    assert json.loads(cli("spam", "port", "list", "--json"))[0]["state"] == "closed"
    assert json.loads(cli("spam", "check", "--json", input=lines(signed)))["reasons"] == ["port_closed"]
    history = json.loads(cli("spam", "port", "history", PORT, "--json"))
    assert [h["to_state"] for h in history] == ["active", "closed"]
    stats = json.loads(cli("spam", "report", "stats", "--days", "1", "--json"))
    assert (stats["received"], stats["verified_pct"], stats["ports_closed"]) == (1, 100.0, 1)
    cli("spam", "port", "set-state", PORT, "active", "--reason", "整改完成")
    cli("spam", "strategy", "activate", "1")
    assert json.loads(cli("spam", "strategy", "show"))["version"] == 1
    assert "error" in cli("spam", "strategy", "new", "--set", "block_at=3", ok=False)


def test_cli_review_queue_and_referrals(cli, tmp_path):
    cli("spam", "strategy", "new", "--set", "block_at=0.99999", "--set", "review_at=0.5", "--activate")
    out = cli(
        "spam", "check", "--json", "--record", input=lines({"sender": ALICE, "recipient": BOB, "text": SPAM_TEXT})
    )
    assert json.loads(out)["verdict"] == "review"
    (item,) = json.loads(cli("spam", "review", "list", "--json"))
    assert item["sender"] == "138****8000" and item["text"] == SPAM_TEXT
    cli("spam", "review", "decide", str(item["id"]), "spam")
    cli("spam", "review", "decide", str(item["id"]), "ham", ok=False)
    labels = tmp_path / "labels.tsv"
    cli("spam", "review", "export-labels", str(labels))
    assert labels.read_text(encoding="utf-8").startswith("1\t急用钱")
    # the reviewer's label joins the next training run
    out = json.loads(
        cli("spam", "train", "--limit", "300", "--folds", "2", "--include-labels", "--out", str(tmp_path), "--json")
    )
    assert (out["from_database"], out["examples"]) == (1, 301)
    cli("sms", "send", "--from", ALICE, "--to", "10086999", "15800158000*低价出售二手车")
    csv_out = cli("spam", "report", "export", "--province", "新疆")
    assert csv_out.splitlines()[0].startswith("report_id,") and "低价出售二手车" in csv_out
    assert len(cli("spam", "report", "export").splitlines()) == 1  # exported already: header only


def test_cli_train_quick_subset(cli, tmp_path):
    out = json.loads(cli("spam", "train", "--limit", "800", "--folds", "3", "--out", str(tmp_path), "--json"))
    assert out["examples"] == 800 and (tmp_path / f"{out['version']}.npz").is_file()
    assert 0 < out["thresholds"]["review"] <= out["thresholds"]["block"] < 1
    assert out["held_out"]["auc"] > 0.9
    missing = cli("spam", "train", "--data", str(tmp_path / "nope.tsv"), ok=False)
    assert "cannot read" in missing


# -- HTTP --------------------------------------------------------------------------------------------

ROLES = ["smsc", "reviewer", "operator", "agent"]


@pytest.fixture
def client(platform):
    with platform.uow() as ctx:
        for role in ROLES:
            create_key(ctx, role=role, label=role, key=f"key-{role}")
    with TestClient(create_app(platform)) as c:
        yield c


def h(role: str) -> dict[str, str]:
    return {"X-API-Key": f"key-{role}"}


def test_http_check_for_the_smsc_only(client):
    body = {"sender": ALICE, "recipient": BOB, "text": SPAM_TEXT}
    r = client.post("/api/v1/spam/check", json=body, headers=h("smsc"))
    assert r.status_code == 200 and r.json()["verdict"] == "block" and r.json()["strategy_version"] == 1
    for role in ("reviewer", "operator", "agent"):
        assert client.post("/api/v1/spam/check", json=body, headers=h(role)).status_code == 403
    assert client.post("/api/v1/spam/check", json=body).status_code == 401
    bad = client.post("/api/v1/spam/check", json={**body, "port_type": "fax"}, headers=h("smsc"))
    assert bad.status_code == 422
    batch = client.post(
        "/api/v1/spam/check/batch", json={"messages": [body, {**body, "text": HAM_TEXT}]}, headers=h("smsc")
    )
    assert [d["verdict"] for d in batch.json()] == ["block", "pass"]


def test_http_governance_roles(client):
    port = {"port": PORT, "owner": "中国工商银行", "signature": "工商银行", "province": "湖南"}
    assert client.post("/api/v1/spam/ports", json=port, headers=h("reviewer")).status_code == 403
    # a NUL in a name (found by schemathesis: PostgreSQL cannot store it) is refused on every store
    nul = client.post("/api/v1/spam/ports", json={**port, "owner": "工行\u0000"}, headers=h("operator"))
    assert nul.status_code == 422
    assert client.post("/api/v1/spam/ports", json=port, headers=h("operator")).status_code == 201
    assert client.post("/api/v1/spam/ports", json=port, headers=h("operator")).status_code == 409
    assert client.get("/api/v1/spam/ports", headers=h("reviewer")).json()[0]["state"] == "active"
    r = client.post(
        f"/api/v1/spam/ports/{PORT}/state", json={"state": "warned", "reason": "投诉多"}, headers=h("operator")
    )
    assert r.json()["state"] == "warned"
    assert len(client.get(f"/api/v1/spam/ports/{PORT}/history", headers=h("reviewer")).json()) == 2
    # a new strategy, active at once, reaches the SMSC hook on the next message
    r = client.post(
        "/api/v1/spam/strategies",
        json={"changes": {"block_at": 0.99999, "review_at": 0.5}, "activate": True},
        headers=h("operator"),
    )
    assert r.status_code == 201 and r.json()["version"] == 2
    assert client.post("/api/v1/spam/strategies", json={"changes": {"x": 1}}, headers=h("operator")).status_code == 422
    assert client.get("/api/v1/spam/strategies", headers=h("reviewer")).status_code == 403
    d = client.post(
        "/api/v1/spam/check", json={"sender": ALICE, "recipient": BOB, "text": SPAM_TEXT}, headers=h("smsc")
    ).json()
    assert (d["verdict"], d["strategy_version"]) == ("review", 2)
    # the reviewer sees it masked and decides; an operator may look but not decide
    (item,) = client.get("/api/v1/spam/reviews", headers=h("reviewer")).json()
    assert item["recipient"] == "139****9000"
    url = f"/api/v1/spam/reviews/{item['id']}/decision"
    assert client.post(url, json={"label": "spam"}, headers=h("operator")).status_code == 403
    assert client.post(url, json={"label": "spam"}, headers=h("reviewer")).json()["label"] == "spam"
    assert client.post(url, json={"label": "ham"}, headers=h("reviewer")).status_code == 409
    assert (
        client.post("/api/v1/spam/reviews/1/decision", json={"label": "spam"}, headers=h("reviewer")).status_code == 404
    )
    assert client.post("/api/v1/spam/strategies/1/activate", headers=h("operator")).json()["active"] is True


def test_http_reports(client, platform):
    platform.receive_sms(ALICE, "10086999", "13700137000*代开发票")
    platform.receive_sms(ALICE, "10086999", "15800158000*二手车")
    (rep,) = client.get("/api/v1/spam/reports", headers=h("reviewer")).json()
    assert rep["reporter"] == "138****8000" and rep["reported_sender"] == "137****7000"
    url = f"/api/v1/spam/reports/{rep['id']}/decision"
    assert client.post(url, json={"confirm": True}, headers=h("smsc")).status_code == 403
    r = client.post(url, json={"confirm": True, "note": "核实"}, headers=h("reviewer"))
    assert r.status_code == 200 and r.json()["report"]["status"] == "confirmed"
    stats = client.get("/api/v1/spam/reports/stats", params={"days": 1}, headers=h("operator")).json()
    assert (stats["received"], stats["referred"], stats["verified"]) == (2, 1, 1)
    referrals = client.post("/api/v1/spam/referrals/export", headers=h("operator")).json()
    assert [r["province"] for r in referrals] == ["新疆"]
    assert client.post("/api/v1/spam/referrals/export", headers=h("reviewer")).status_code == 403
    assert client.get("/api/v1/spam/reports", params={"status": "nope"}, headers=h("reviewer")).status_code == 422


def test_cli_check_record_keeps_going_past_bad_lines(db_url):
    """docs/spam.md: a bad line is reported and the others are still checked (issue 12), with
    --record too: non-UTF-8 bytes, a NUL, deep nesting, a BOM on the first line."""
    runner.invoke(app, ["--db", db_url, "seed", "demo"])
    good = lines({"sender": ALICE, "recipient": BOB, "text": SPAM_TEXT}).encode()
    data = (
        "\ufeff".encode()
        + good
        + b'{"sender": "13800138000", "recipient": "13900139000", "text": "\xff\xfe"}\n'
        + lines({"sender": ALICE, "recipient": BOB, "text": "急用钱\x00"}).encode()
        + b"[" * 100_000
        + b"\n"
        + good
    )
    result = runner.invoke(app, ["--db", db_url, "spam", "check", "--json", "--record"], input=data)
    assert result.exit_code == 1, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o.get("verdict") or o["line"] for o in out] == ["block", 2, 3, 4, "block"], out
    assert "UTF-8" in out[1]["error"] and "NUL" in out[2]["error"]


def test_http_check_records_before_it_answers(client, platform):
    from sqlalchemy import func, select

    from mingbai.spam.models import SpamDecision

    body = {"sender": ALICE, "recipient": BOB, "text": SPAM_TEXT}
    assert client.post("/api/v1/spam/check", json=body, headers=h("smsc")).json()["verdict"] == "block"
    with platform.uow() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(SpamDecision)) == 1
    nul = client.post("/api/v1/spam/check", json={**body, "text": SPAM_TEXT + "\x00"}, headers=h("smsc"))
    assert nul.status_code == 422
