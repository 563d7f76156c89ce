"""``mingbai user …`` and the demo users from ``mingbai seed demo``."""

from __future__ import annotations

import json

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


def test_seed_demo_creates_documented_users_once(cli):
    out = cli("seed", "demo")
    assert "console user agent (agent): password mingbai-agent" in out
    assert "console user sina (sp): password mingbai-sina" in out
    cli("seed", "demo")  # again: nothing duplicated, nothing fails
    users = json.loads(cli("user", "list", "--json"))
    assert {u["username"]: u["role"] for u in users} == {
        "agent": "agent",
        "hall": "hall",
        "supervisor": "supervisor",
        "operator": "operator",
        "security": "security",
        "security2": "security",  # the vault's second approver (two-approver exports)
        "auditor": "auditor",
        "sina": "sp",
        "tencent": "sp",
    }
    assert "hash" not in json.dumps(users) and "mingbai-" not in json.dumps(users)


def test_create_disable_and_reset_a_user(cli):
    cli("seed", "demo")
    cli(
        "user",
        "create",
        "--username",
        "li.na",
        "--role",
        "hall",
        "--name",
        "李娜",
        "--password-stdin",
        stdin="a long enough secret\n",
    )
    out = cli(
        "user",
        "create",
        "--username",
        "li.na",
        "--role",
        "hall",
        "--name",
        "x",
        "--password-stdin",
        stdin="another long secret\n",
        ok=False,
    )
    assert "taken" in out
    out = cli(
        "user",
        "create",
        "--username",
        "bob",
        "--role",
        "agent",
        "--name",
        "Bob",
        "--password-stdin",
        stdin="short\n",
        ok=False,
    )
    assert "at least 10" in out
    out = cli(
        "user",
        "create",
        "--username",
        "sp1",
        "--role",
        "sp",
        "--name",
        "SP",
        "--password-stdin",
        stdin="a long enough secret\n",
        ok=False,
    )
    assert "names its SP" in out
    out = cli(
        "user",
        "create",
        "--username",
        "sub",
        "--role",
        "subscriber",
        "--name",
        "S",
        "--password-stdin",
        stdin="a long enough secret\n",
        ok=False,
    )
    assert "role must be one of" in out
    cli(
        "user",
        "create",
        "--username",
        "qq.ops",
        "--role",
        "sp",
        "--sp",
        "TENCENT",
        "--name",
        "腾讯",
        "--password-stdin",
        stdin="a long enough secret\n",
    )
    cli("user", "disable", "--username", "li.na")
    users = {u["username"]: u for u in json.loads(cli("user", "list", "--json"))}
    assert users["li.na"]["status"] == "disabled" and users["qq.ops"]["sp"] == "TENCENT"
    cli("user", "disable", "--username", "li.na", "--enable")
    cli("user", "password", "--username", "li.na", "--password-stdin", stdin="a brand new secret\n")
    assert "no user" in cli("user", "disable", "--username", "nobody", ok=False)
