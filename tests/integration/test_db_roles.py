"""History the application itself cannot rewrite (issue 16, docs/database-roles.md).

PostgreSQL: the platform runs as a role that may only INSERT and SELECT the append-only tables,
owns nothing (no DDL, no trigger to disable or drop) and cannot become the owner. The rest of the
suite runs as that role too (tests/conftest.py), which proves the platform needs no more.
SQLite has no roles: a file editor can drop the trigger, rewrite a row and put the trigger back;
the hash chain finds it.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from mingbai.all_models import metadata
from mingbai.cli.main import app
from mingbai.db import append_only_tables
from mingbai.dbroles import APPEND_ONLY_PRIVILEGES, DEFAULT_APP_ROLE, app_url, check_url, grant_url, resolve
from tests.conftest import APP_ROLE, drop_pg_schema, fresh_pg_schema, owner_url
from tests.disputes.conftest import subscribed
from tests.helpers import ALICE

runner = CliRunner()

#: every table that is history; a capability adding one marks its model ``@append_only``
EXPECTED_APPEND_ONLY = {
    "subscription_event",
    "mo_message",
    "catalog_status_change",
    "sign_in_attempt",
    "balance_entry",
    "points_entry",
    "usage_record",
    "credit_reference",
    "dispute_policy",
    "spam_port_event",
    "spam_decision",
}


def test_the_registry_names_the_history_tables():
    assert set(append_only_tables(metadata)) >= EXPECTED_APPEND_ONLY
    # tables the platform updates are not in it (a mistake here would break the flows as the app role)
    assert not {"subscription", "charge", "charge_objection", "sms_outbox", "dispute"} & set(
        append_only_tables(metadata)
    )


# -- PostgreSQL: the application role ----------------------------------------------------------


def _refused(engine, sql: str, why: str = "permission denied|must be owner") -> None:
    with engine.connect() as conn:
        with pytest.raises(Exception, match=why):
            conn.execute(text(sql))
        conn.rollback()


def test_the_app_role_can_only_append_to_history(pg_platform):
    platform = pg_platform
    subscribed(platform)  # history exists: events, MOs
    engine = platform.db.engine
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == APP_ROLE
    for table in append_only_tables(metadata):
        _refused(engine, f"TRUNCATE {table}")
        _refused(engine, f"UPDATE {table} SET {_a_column(table)} = {_a_column(table)}")
        _refused(engine, f"DELETE FROM {table}")
        _refused(engine, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        _refused(engine, f"ALTER TABLE {table} ADD COLUMN forged int")
        _refused(engine, f"DROP TABLE {table}")
        _refused(
            engine,
            f"CREATE TRIGGER forged BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION mingbai_append_only()",
        )
        with engine.begin() as conn:  # INSERT and SELECT are granted (zero rows: the privileges are checked)
            conn.execute(text(f"INSERT INTO {table} SELECT * FROM {table} WHERE false"))
            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    _refused(engine, "ALTER TABLE subscription_event DISABLE TRIGGER subscription_event_append_only")
    _refused(engine, "DROP TRIGGER subscription_event_append_only ON subscription_event")
    _refused(engine, "CREATE TABLE forged (a int)")
    _refused(engine, "DROP FUNCTION mingbai_append_only() CASCADE")
    owner = make_url(owner_url(platform.settings.database_url)).username
    _refused(engine, f'SET ROLE "{owner}"')
    _refused(engine, "SET session_replication_role = replica")  # what skips triggers needs a superuser
    # what the platform rewrites is still writable to it
    with engine.begin() as conn:
        conn.execute(text("UPDATE subscription SET status = status"))
        conn.execute(text("DELETE FROM unsubscribe_menu WHERE false"))
    with engine.begin() as conn:  # its own GRANT (it owns nothing) grants nothing: a warning, no error
        conn.execute(text(f'GRANT UPDATE ON subscription_event TO "{APP_ROLE}"'))
        assert not conn.execute(
            text("SELECT has_table_privilege(current_user, 'subscription_event', 'UPDATE')")
        ).scalar()


def _a_column(table: str) -> str:
    return next(iter(metadata.tables[table].primary_key.columns)).name


def test_the_flows_run_as_the_app_role_and_the_check_finds_nothing(pg_platform):
    subscribed(pg_platform)
    owner = owner_url(pg_platform.settings.database_url)
    assert owner != pg_platform.settings.database_url
    assert check_url(owner, metadata, APP_ROLE) == []
    out = runner.invoke(
        app, ["--db", pg_platform.settings.database_url, "db", "roles", "--owner-url", owner, "--check", "--json"]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["ok"] and report["role"] == APP_ROLE and set(report["append_only"]) >= EXPECTED_APPEND_ONLY


def test_db_upgrade_migrates_as_the_owner_and_grants_the_app_role():
    """A fresh schema: ``mingbai db upgrade`` with the two URLs builds it as the owner and grants;
    a grant made by hand is found by ``--check`` and undone by ``db roles``; a table the owner
    creates later starts at INSERT and SELECT (fail closed)."""
    schema, owner = fresh_pg_schema("roles")
    try:
        app_side = app_url(owner, APP_ROLE)
        up = runner.invoke(app, ["--db", app_side, "db", "upgrade", "--owner-url", owner])
        assert up.exit_code == 0, up.output
        assert "append-only" in up.output
        engine = create_engine(owner)
        with engine.begin() as conn:
            owners = set(
                conn.execute(
                    text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = :s"), {"s": schema}
                ).scalars()
            )
            assert owners == {make_url(owner).username}
            conn.execute(text(f'GRANT ALL ON subscription_event TO "{APP_ROLE}"'))
        bad = runner.invoke(app, ["--db", app_side, "db", "roles", "--owner-url", owner, "--check", "--json"])
        assert bad.exit_code == 1
        problems = json.loads(bad.output)["problems"]
        assert any("TRUNCATE on subscription_event" in p for p in problems)
        assert any("append-only subscription_event" in p for p in problems)
        fixed = runner.invoke(app, ["--db", app_side, "db", "roles", "--owner-url", owner])
        assert fixed.exit_code == 0, fixed.output
        assert check_url(owner, metadata, APP_ROLE) == []
        again = runner.invoke(app, ["--db", app_side, "db", "upgrade", "--owner-url", owner])  # idempotent
        assert again.exit_code == 0, again.output
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE later_history (id bigint PRIMARY KEY)"))
            granted = conn.execute(
                text(
                    "SELECT string_agg(privilege_type, ', ' ORDER BY privilege_type) "
                    "FROM information_schema.role_table_grants WHERE table_schema = :s "
                    "AND table_name = 'later_history' AND grantee = :r"
                ),
                {"s": schema, "r": APP_ROLE},
            ).scalar()
        assert granted == ", ".join(sorted(APPEND_ONLY_PRIVILEGES.split(", ")))
        engine.dispose()
    finally:
        drop_pg_schema(schema)


def test_the_password_in_the_app_url_is_set_and_quoted(pg_url):
    owner = owner_url(pg_url)
    actions = grant_url(owner, metadata, APP_ROLE, "it's a s3cret")
    assert f"role {APP_ROLE}: password set" in actions
    engine = create_engine(owner)
    try:
        with engine.begin() as conn:
            stored = conn.execute(
                text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": APP_ROLE}
            ).scalar()
            assert stored and stored.startswith(("SCRAM-SHA-256$", "md5"))
            conn.execute(text(f'ALTER ROLE "{APP_ROLE}" PASSWORD NULL'))  # local trust: as it was
    finally:
        engine.dispose()


def test_grant_refuses_a_role_that_could_become_the_owner(pg_url):
    owner = owner_url(pg_url)
    with pytest.raises(ValueError, match="cannot be the owner"):
        grant_url(owner, metadata, make_url(owner).username or "")
    with pytest.raises(ValueError, match="lower-case SQL name"):
        grant_url(owner, metadata, 'app"; DROP TABLE subscriber; --')


# -- the settings ------------------------------------------------------------------------------


def test_roles_from_the_settings():
    o = "postgresql+psycopg://mingbai_owner:own@db/mingbai"
    a = "postgresql+psycopg://mingbai_app:s3cr'et@db/mingbai"
    assert resolve(a, o) == resolve(a, o, None)
    roles = resolve(a, o)
    assert (roles.owner_url, roles.app_role, roles.app_password) == (o, "mingbai_app", "s3cr'et")
    assert resolve(a, None).app_role is None  # one URL: one role does both
    assert resolve(o, o).app_role is None
    named = resolve(o, None, "reports_app")
    assert (named.owner_url, named.app_role, named.app_password) == (o, "reports_app", None)
    assert resolve("sqlite:///var/mingbai.db", None).app_role is None
    assert DEFAULT_APP_ROLE == "mingbai_app"
    with pytest.raises(ValueError):
        resolve(o, None, "Robert'); DROP")
    url = app_url("postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dt_x", "mingbai_app")
    parsed = make_url(url)
    assert parsed.username == "mingbai_app" and parsed.query["options"] == "-csearch_path=t_x"


def test_db_roles_explains_sqlite(tmp_path):
    out = runner.invoke(app, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "db", "roles"])
    assert out.exit_code == 1 and "hash chains" in out.output


# -- SQLite: no roles, the chain finds what a file editor did -----------------------------------


def test_a_trigger_dropped_and_put_back_around_an_edit_is_found_by_the_chain(tmp_path, sqlite_template, clock, gateway):
    import shutil

    from tests.conftest import _platform

    path = tmp_path / "mingbai.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    for platform in _platform(url, clock, gateway):
        subscribed(platform)
        platform.db.engine.dispose()
    ok = runner.invoke(app, ["--db", url, "evidence", "verify", "--json"])
    assert ok.exit_code == 0, ok.output

    raw = sqlite3.connect(path)  # the editor: no platform, no rules
    (trigger,) = raw.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'subscription_event_no_update'"
    ).fetchone()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE subscription_event SET actor = 'hall:forged'")
    raw.execute("DROP TRIGGER subscription_event_no_update")
    target = raw.execute(
        "SELECT id FROM subscription_event WHERE msisdn = ? ORDER BY chain_seq LIMIT 1", (ALICE,)
    ).fetchone()[0]
    raw.execute("UPDATE subscription_event SET actor = 'hall:forged' WHERE id = ?", (target,))
    raw.execute(trigger)
    raw.commit()
    assert raw.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'subscription_event_no_update'"
    ).fetchone() == (1,)  # no trace in the schema
    raw.close()

    bad = runner.invoke(app, ["--db", url, "evidence", "verify", "--json"])
    assert bad.exit_code == 1, bad.output
    first = json.loads(bad.output)["first_bad"]
    assert (first["table"], first["msisdn"], str(first["id"])) == ("subscription_event", ALICE, str(target))
    assert "altered" in first["why"]
