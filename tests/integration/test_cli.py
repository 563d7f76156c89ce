"""The ``mingbai`` command as an operator (or an acceptance check) uses it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mingbai.cli.main import app
from mingbai.demo import DEMO_CATALOG
from tests.helpers import ALICE

runner = CliRunner()


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("MINGBAI_CODE_SECRET", "cli-test")

    def run(*args: str, at: str = "2026-04-10T10:00:00+08:00", ok: bool = True) -> str:
        result = runner.invoke(app, ["--db", db_url, "--at", at, *args])
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
        return result.output

    run("seed", "demo")
    return run


def test_order_confirm_query_unsubscribe(cli):
    # the acceptance checks read the code as the demo's handset shows it (mingbai --demo)
    out = json.loads(cli("--demo", "order", "--msisdn", ALICE, "--service", "SINA-NEWS", "--channel", "hall", "--json"))
    assert out["order"]["status"] == "pending"
    code = out["sms"][0]["text"].split("验证码")[1][:6]
    replies = json.loads(cli("sms", "send", "--from", ALICE, "--to", "10086", code, "--json"))
    assert replies[0]["from"] == "10086" and replies[0]["to"] == ALICE and "定制试用" in replies[0]["text"]
    subs = json.loads(cli("subscriptions", "--msisdn", ALICE, "--json"))
    (s,) = subs
    for key in [
        "service_code",
        "status",
        "channel",
        "ordered_at",
        "confirmed_at",
        "price_fen",
        "first_charge_on",
        "unsubscribed_at",
    ]:
        assert key in s
    assert s["channel"] == "hall" and s["first_charge_on"] == "2026-05-01" and s["unsubscribed_at"] is None
    menu = json.loads(cli("sms", "send", "--from", ALICE, "--to", "10086", "0000", "--json"))
    assert "1.新浪提供的头条新闻" in menu[0]["text"]
    done = json.loads(cli("sms", "send", "--from", ALICE, "--to", "10086", "1", "--json"))
    assert "退订" in done[0]["text"]
    (s,) = json.loads(cli("subscriptions", "--msisdn", ALICE, "--json"))
    assert s["status"] == "unsubscribed" and s["unsubscribed_at"]


def test_tick_is_idempotent_and_at_moves_time(cli):
    out = json.loads(cli("order", "--msisdn", ALICE, "--service", "QQ-TONES", "--channel", "web", "--json"))
    assert out["order"]["expires_at"]
    first = json.loads(cli("tick", "--json", at="2026-04-10T11:00:00+08:00"))
    second = json.loads(cli("tick", "--json", at="2026-04-10T11:00:00+08:00"))
    assert first["expired_orders"] == 1 and second["expired_orders"] == 0 and second["sent"] == 0


def test_catalog_import_reports_position_and_is_atomic(cli, tmp_path):
    bad = json.loads(json.dumps(DEMO_CATALOG))
    bad["sps"].append({"code": "NEW", "name": "新SP", "hotline": "12345"})
    bad["services"].append({"code": "X1", "sp": "NEW", "name": "x", "billing": "monthly", "price_fen": 100})
    bad["subscribers"].append({"msisdn": "999", "province": "湖南"})
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    out = cli("catalog", "import", str(f), ok=False)
    assert "subscribers[5].msisdn" in out
    listing = json.loads(cli("catalog", "list", "--json"))
    assert "NEW" not in {s["code"] for s in listing["sps"]}  # nothing half-imported
    bad["subscribers"].pop()
    f.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    assert json.loads(cli("catalog", "import", str(f), "--json"))["services"] == 7
    (f2 := tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    assert "not JSON" in cli("catalog", "import", str(f2), ok=False)


def test_bad_input_exits_nonzero_with_reason(cli):
    assert "bad_msisdn" in cli("order", "--msisdn", "123", "--service", "SINA-NEWS", "--channel", "sp", ok=False)
    assert "unknown_service" in cli("order", "--msisdn", ALICE, "--service", "NOPE", "--channel", "sp", ok=False)
    assert "bad_channel" in cli("order", "--msisdn", ALICE, "--service", "SINA-NEWS", "--channel", "fax", ok=False)
    assert "ISO-8601" in cli("tick", at="yesterday", ok=False)
