"""``mingbai audit verify | search | checkpoint | pubkey`` on SQLite and PostgreSQL, exit codes
included: 0 for an intact chain, 1 for any entry altered, removed, inserted or reordered, or a tail
cut behind an auditor's kept checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from mingbai.audit import service as audit
from mingbai.cli.main import app
from mingbai.platform import Platform
from tests.conftest import TEST_SEALING_KEY
from tests.helpers import ALICE, BOB, owner_uow

runner = CliRunner()


@pytest.fixture(autouse=True)
def _same_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # the CLI builds its own platform: the same sealing keys as the fixture's, so the same MACs
    monkeypatch.setenv("MINGBAI_SECRET_KEYS", TEST_SEALING_KEY)
    monkeypatch.setenv("USER", "ops1")
    monkeypatch.delenv("MINGBAI_NOW", raising=False)


def _fill(platform: Platform, n: int = 12) -> None:
    with platform.uow() as ctx:
        audit.record_many(
            ctx,
            [
                audit.Action("agent:alice", "agent", "subscriber.view", subject_msisdn=ALICE if i % 3 else BOB)
                if i % 2
                else audit.Action("operator:bob", "operator", "catalog.price", subject="service:SINA-NEWS")
                for i in range(n)
            ],
        )


def _bypass(conn: Connection, dialect: str, *sql: str) -> None:
    """What a superuser or a file editor could still do: go around the append-only triggers."""
    tables = ("audit_entry", "audit_checkpoint")
    for table in tables:
        if dialect == "postgresql":
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for verb in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
    for statement in sql:
        conn.execute(text(statement))
    if dialect == "postgresql":
        for table in tables:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def _verify(db_url: str, *extra: str) -> tuple[int, dict[str, object]]:
    out = runner.invoke(app, ["--db", db_url, "audit", "verify", "--json", *extra])
    return out.exit_code, json.loads(out.stdout)


def test_verify_ok_then_altered(platform: Platform, db_url: str) -> None:
    _fill(platform)
    code, report = _verify(db_url)
    assert code == 0 and report["ok"] is True and report["entries"] == 12 and report["first_bad"] is None
    human = runner.invoke(app, ["--db", db_url, "audit", "verify"])
    assert human.exit_code == 0 and "12 entries verified" in human.stdout
    with owner_uow(platform) as ctx:
        _bypass(ctx.conn, ctx.dialect, "UPDATE audit_entry SET actor = 'agent:mallory' WHERE seq = 7")
    code, report = _verify(db_url)
    assert code == 1 and report["ok"] is False and report["first_bad"] == 7
    assert runner.invoke(app, ["--db", db_url, "audit", "verify"]).exit_code == 1


@pytest.mark.parametrize(
    ("sql", "first_bad"),
    [
        ("DELETE FROM audit_entry WHERE seq = 4", 4),  # removed
        # reordered: 5 and 6 swap places, each keeping its own hash
        (
            "UPDATE audit_entry SET seq = -seq WHERE seq IN (5, 6);UPDATE audit_entry SET seq = 6 WHERE seq = -5;"
            "UPDATE audit_entry SET seq = 5 WHERE seq = -6",
            5,
        ),
        # inserted: a copy of entry 3 added after the end
        (
            "INSERT INTO audit_entry SELECT 100, at, actor, role, action, subject_mac, subject, address, outcome,"
            " detail, hash FROM audit_entry WHERE seq = 3",
            13,
        ),
    ],
)
def test_removed_reordered_inserted(platform: Platform, db_url: str, sql: str, first_bad: int) -> None:
    _fill(platform)
    with owner_uow(platform) as ctx:
        _bypass(ctx.conn, ctx.dialect, *sql.split(";"))
    code, report = _verify(db_url)
    assert code == 1 and report["first_bad"] == first_bad, report


def test_kept_checkpoint_catches_a_cut_tail(platform: Platform, db_url: str, tmp_path: Path) -> None:
    _fill(platform)
    kept = tmp_path / "cp.json"
    made = runner.invoke(app, ["--db", db_url, "audit", "checkpoint", "--out", str(kept)])
    assert made.exit_code == 0, made.output
    cp = json.loads(kept.read_text())
    assert cp["seq"] == 12
    key = runner.invoke(app, ["--db", db_url, "audit", "pubkey"])
    assert key.exit_code == 0 and key.stdout.strip() == cp["public_key"]
    # the tail cut, the head row and the database's own checkpoints rewritten to match
    with owner_uow(platform) as ctx:
        _bypass(ctx.conn, ctx.dialect, "DELETE FROM audit_entry WHERE seq > 9", "DELETE FROM audit_checkpoint")
        ctx.conn.execute(text("UPDATE audit_head SET seq = 9, hash = (SELECT hash FROM audit_entry WHERE seq = 9)"))
    assert _verify(db_url)[0] == 0  # inside the database nothing shows
    code, report = _verify(db_url, "--checkpoint", str(kept))
    assert code == 1 and report["first_bad"] == 10
    # a forged checkpoint (not signed by the platform's key) is refused too
    cp["seq"], cp["hash"] = 9, "0" * 64
    kept.write_text(json.dumps(cp))
    code, report = _verify(db_url, "--checkpoint", str(kept))
    assert code == 1 and "not signed" in str(report["reason"])
    kept.write_text("not json")
    assert runner.invoke(app, ["--db", db_url, "audit", "verify", "--checkpoint", str(kept)]).exit_code == 1


def test_search_by_number_and_staff(platform: Platform, db_url: str) -> None:
    _fill(platform)
    out = runner.invoke(app, ["--db", db_url, "audit", "search", "--msisdn", ALICE, "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert len(rows) == 4 and {r["subject"] for r in rows} == {"138****8000"}
    assert ALICE not in out.stdout
    staff = json.loads(
        runner.invoke(
            app, ["--db", db_url, "audit", "search", "--staff", "bob", "--action", "catalog.", "--json"]
        ).stdout
    )
    assert len(staff) == 6 and {r["action"] for r in staff} == {"catalog.price"}
    window = runner.invoke(
        app, ["--db", db_url, "audit", "search", "--staff", "bob", "--since", "2030-01-01", "--json"]
    )
    assert json.loads(window.stdout) == []
    # the searches themselves were recorded, by the CLI's operator
    mine = json.loads(runner.invoke(app, ["--db", db_url, "audit", "search", "--staff", "cli:ops1", "--json"]).stdout)
    assert [r["action"] for r in mine] == ["audit.search"] * 3
    assert runner.invoke(app, ["--db", db_url, "audit", "search"]).exit_code == 2
    assert runner.invoke(app, ["--db", db_url, "audit", "search", "--msisdn", "12"]).exit_code == 1
    table = runner.invoke(app, ["--db", db_url, "audit", "search", "--msisdn", ALICE])
    assert table.exit_code == 0 and "subscriber.view" in table.stdout
    assert _verify(db_url)[1]["ok"] is True
