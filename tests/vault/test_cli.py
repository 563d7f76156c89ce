"""``mingbai vault``: ask, approve, use once, with each person's password; records loaded from CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mingbai.cli.main import app

runner = CliRunner()


@pytest.fixture
def cli(db_url):  # type: ignore[no-untyped-def]
    def run(*args: str, ok: bool = True, stdin: str | None = None) -> str:
        result = runner.invoke(app, ["--db", db_url, "--at", "2026-04-10T10:00:00+08:00", *args], input=stdin)
        assert (result.exit_code == 0) is ok, result.output
        return result.output

    return run


def test_ask_approve_use_once_from_the_cli(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("seed", "demo")
    pw = {"stdin": "mingbai-agent\n"}
    out = cli(
        "vault", "request", "--as", "agent", "--password-stdin", "--operation", "cdr", "--msisdn", "13800138000",
        "--from", "2026-04-08", "--to", "2026-04-10", "--reason", "客户来电核对话费", "--json", **pw,
    )  # fmt: skip
    req = json.loads(out)
    assert req["status"] == "pending" and req["subject"] == "138****8000"
    cli("vault", "approve", str(req["id"]), "--as", "agent", "--password-stdin", ok=False, **pw)
    bad = cli("vault", "approve", str(req["id"]), "--as", "security", "--password-stdin", ok=False, stdin="wrong\n")
    assert "bad_credentials" in bad
    pending = json.loads(cli("vault", "list", "pending", "--json"))
    assert [x["id"] for x in pending] == [req["id"]]
    cli("vault", "approve", str(req["id"]), "--as", "security", "--password-stdin", stdin="mingbai-security\n")
    used = json.loads(cli("vault", "use", str(req["id"]), "--as", "agent", "--password-stdin", "--json", **pw))
    assert used["msisdn"] == "13800138000" and used["rows"]
    again = cli("vault", "use", str(req["id"]), "--as", "agent", "--password-stdin", ok=False, **pw)
    assert "(used)" in again
    history = json.loads(cli("vault", "history", "--msisdn", "13800138000", "--json"))
    assert [(h["operation"], h["role"]) for h in history] == [("cdr", "客服坐席")]
    feed = tmp_path / "cdr.csv"
    feed.write_text(
        "msisdn,started_at,kind,direction,other_party,duration_s,volume_kb,cell_id\n"
        "13900139000,2026-04-09T08:00:00+08:00,voice,out,10086,60,0,460-00-1-2\n"
        "13900139000,2026-04-09T09:00:00+08:00,fax,out,10086,60,0,460-00-1-2\n",
        encoding="utf-8",
    )
    assert "record 3" in cli("vault", "load", "cdr", str(feed), ok=False)
    feed.write_text(feed.read_text(encoding="utf-8").replace("fax", "sms"), encoding="utf-8")
    assert "2 cdr records loaded" in cli("vault", "load", "cdr", str(feed))
