"""The migrations build exactly the schema the models describe, and the outbox-key step goes both ways."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, text

import mingbai.platform  # noqa: F401  (imports every capability's models)
from mingbai.db import Base, make_engine
from mingbai.migrate import alembic_config, upgrade
from tests.conftest import drop_pg_schema, fresh_pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    schema, url = fresh_pg_schema("m")
    try:
        yield url
    finally:
        drop_pg_schema(schema)


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        found: list[object] = [d for d in compare_metadata(ctx, Base.metadata) if not _ignorable(d)]
        return found + _partiality(conn)


def _partiality(conn: Connection) -> list[object]:
    """Indexes partial in the models but not in the database, or the other way round (alembic
    compares columns and uniqueness, not predicates)."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    partial_in_db = {name: " WHERE " in (ddl or "").upper() for name, ddl in conn.execute(text(sql)).all()}
    out: list[object] = []
    for table in Base.metadata.tables.values():
        for index in table.indexes:
            partial = index.dialect_options[conn.dialect.name].get("where") is not None
            if index.name in partial_in_db and partial_in_db[index.name] != partial:
                out.append(("partiality", index.name, "model partial" if partial else "database partial"))
    return out


def _ignorable(diff: object) -> bool:
    # alembic's own bookkeeping table is not a model
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


def test_migrations_match_the_models(fresh_url: str) -> None:
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_outbox_keys_step_down_and_up(fresh_url: str) -> None:
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    now = datetime(2026, 4, 1, tzinfo=UTC)
    row = (
        "INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, dedupe_key, status, created_at, due_at)"
        " VALUES (:m, :i, '10086', 't', :k, 'concat', :d, 'queued', :now, :now)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(row), {"m": "13800138000", "i": 77, "k": "charge_reminder", "d": None, "now": now})
            conn.execute(text(row), {"m": "13800138000", "i": 78, "k": "reply", "d": None, "now": now})
        command.downgrade(alembic_config(fresh_url), "0502_outbox_partial")
        with engine.connect() as conn:
            keys = dict(conn.execute(text("SELECT id, dedupe_key FROM sms_outbox ORDER BY id")).all())
        # a reminder written without a key gets its old one back; other rows keep none
        assert keys == {77: "charge:77", 78: None}
        upgrade(fresh_url)
        assert _differences(engine) == []
    finally:
        engine.dispose()
