"""The ``mingbai`` command as an operator (or an acceptance check) uses it."""

from __future__ import annotations

import json
import re

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


HOSTILE_FILES = {
    "not UTF-8": b'{"sps": [{"code": "X\xff\xfe"}]}',
    "NUL": b'{"sps": [{"code": "SINA", "name": "\\u0000", "hotline": "95105670"}]}',
    "surrogate": b'{"sps": [{"code": "SINA", "name": "\\ud800", "hotline": "95105670"}]}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "binary": bytes(range(256)) * 4,
}
FILE_COMMANDS = [("catalog", "import"), ("spam", "strategy", "new", "--file"), ("usage", "import")]


@pytest.mark.parametrize("command", FILE_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("content", list(HOSTILE_FILES), ids=str)
def test_every_file_reading_command_refuses_hostile_files_with_a_message(cli, db_url, tmp_path, command, content):
    path = tmp_path / "in.dat"
    path.write_bytes(HOSTILE_FILES[content])
    result = runner.invoke(app, ["--db", db_url, *command, str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "error" in result.output


def test_a_bom_is_read_as_the_api_reads_it(cli, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_bytes("\ufeff".encode() + json.dumps(DEMO_CATALOG, ensure_ascii=False).encode())
    assert "imported" in cli("catalog", "import", str(path))


def test_sms_send_with_bytes_that_are_not_utf8_is_a_message(cli, db_url):
    # a shell passes raw bytes; Python hands them over as lone surrogates (surrogateescape)
    text = b"00\xff00".decode("utf-8", "surrogateescape")
    result = runner.invoke(app, ["--db", db_url, "sms", "send", "--from", ALICE, text])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "not UTF-8" in result.output


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    "args",
    [
        ["spam", "check"],
        ["subscriptions", "--msisdn", ALICE],
        ["billing", "runs"],
        ["user", "list"],
        ["seed", "demo"],
        ["tick"],
    ],
)
def test_a_database_not_upgraded_is_said_plainly(backend, args, tmp_path):
    """Every command on a database without the schema says how to fix it, never a traceback."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        from tests.conftest import drop_pg_schema, fresh_pg_schema

        schema, url = fresh_pg_schema("noup")
    try:
        result = runner.invoke(app, ["--db", url, *args], input='{"from": "1", "to": "2", "text": "x"}\n')
    finally:
        if backend == "postgresql":
            drop_pg_schema(schema)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "run `mingbai db upgrade` first" in result.output
    assert "Traceback" not in result.output


def test_tables_at_80_columns_keep_every_id_and_show_shanghai_time(cli, db_url, monkeypatch):
    """The ids a person copies into the next command are never cut; times are local with offset."""
    monkeypatch.setenv("COLUMNS", "80")
    out = json.loads(cli("order", "--msisdn", ALICE, "--service", "SINA-NEWS", "--channel", "hall", "--json"))
    code = out["sms"][0]["text"].split("验证码")[1][:6]
    cli("sms", "send", "--from", ALICE, "--to", "10086", code)
    may = "2026-05-01T09:00:00+08:00"
    billed = cli("billing", "run", "--period", "2026-05", at=may)
    # the progress bar counts subscriptions on both sides (not chunk sizes over subscriptions)
    done, total = map(int, re.search(r"(\d+)/(\d+) subscriptions", billed).groups())
    assert done == total == int(re.search(r"(\d+) subscriptions seen", billed).group(1)), billed
    cli("sms", "send", "--from", ALICE, "--to", "10086", "YYSINA-NEWS", at=may)
    cli("spam", "strategy", "new", "--set", "block_at=0.99999", "--set", "review_at=0.5", "--activate")
    spam = '{"sender": "13900139000", "recipient": "13800138000", "text": "急用钱？无抵押贷款当天放款，详询 400-000-0000"}\n'
    result = runner.invoke(app, ["--db", db_url, "spam", "check", "--record"], input=spam)
    assert result.exit_code == 0, result.output
    for args in (["billing", "runs"], ["billing", "objections"], ["spam", "review", "list"]):
        ids = [str(r.get("run_id", r.get("id"))) for r in json.loads(cli(*args, "--json"))]
        assert ids, args
        table = cli(*args)
        assert max(len(line) for line in table.splitlines()) <= 80, table
        for i in ids:
            assert i in table, (args, i, table)
    runs = cli("billing", "runs")
    assert "+08:00" in runs and "+00:00" not in runs
    history = cli("history", "--msisdn", ALICE)
    assert "+08:00" in history and "+00:00" not in history


def test_catalog_suspend_needs_a_reason_and_records_who(cli, db_url):
    out = cli("catalog", "suspend", "SOHU", ok=False)
    assert "reason" in out
    cli("catalog", "suspend", "SOHU", "--reason", "投诉激增")
    cli("catalog", "suspend", "SOHU", "--resume")
    from mingbai.catalog.service import status_changes
    from mingbai.config import Settings
    from mingbai.platform import Platform

    platform = Platform(Settings(database_url=db_url))
    with platform.uow() as ctx:
        changes = [(c.to_status, c.reason, c.actor.split(":")[0]) for c in reversed(status_changes(ctx))]
    platform.db.engine.dispose()
    assert changes == [("suspended", "投诉激增", "cli"), ("active", None, "cli")]
