"""Fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL is found at $MINGBAI_TEST_PG_URL (default: the machine's 127.0.0.1:5432/test).
When it is absent its tests skip, unless MINGBAI_REQUIRE_PG=1 (CI), which makes absence an error.
Each pytest-xdist worker gets its own schema, migrated once with Alembic and truncated per test.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mingbai.catalog.service import import_catalog
from mingbai.clock import SHANGHAI, FixedClock
from mingbai.config import Settings
from mingbai.db import Database, make_engine
from mingbai.demo import DEMO_CATALOG
from mingbai.messaging.gateways import LoopbackGateway
from mingbai.migrate import upgrade
from mingbai.platform import Platform
from mingbai.sealing import new_key_line

PG_URL = os.environ.get("MINGBAI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("MINGBAI_REQUIRE_PG") == "1"

#: seals one-time codes in the outbox (mingbai.sealing); a test run's own, never a file
TEST_SEALING_KEY = new_key_line("test1")

#: a quiet Friday in April, 10:00 Shanghai: away from every trial and reminder boundary
DEFAULT_NOW = datetime(2026, 4, 10, 10, 0, tzinfo=SHANGHAI)


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


_PG_OK: bool | None = None


def pg_ok() -> bool:
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _pg_available()
        if not _PG_OK and REQUIRE_PG:
            pytest.exit(f"PostgreSQL required (MINGBAI_REQUIRE_PG=1) but not reachable at {PG_URL}", returncode=3)
    return _PG_OK


def _worker() -> str:
    # checkouts side by side (git worktrees, CI clones) share the database: keep schemas apart
    import hashlib

    tree = hashlib.sha1(str(Path(__file__).resolve().parent).encode()).hexdigest()[:6]
    return f"{tree}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def fresh_pg_schema(prefix: str) -> tuple[str, str]:
    """An empty schema of this worker's (skips when PostgreSQL is absent): (name, URL using it)."""
    if not pg_ok():
        pytest.skip("PostgreSQL not reachable")
    schema = f"{prefix}_{_worker()}"
    drop_pg_schema(schema)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def drop_pg_schema(schema: str) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_url() -> str:
    _, url = fresh_pg_schema("t")
    upgrade(url)
    return url


def _truncate_pg(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    engine.dispose()


@pytest.fixture
def pg_url(pg_schema_url: str) -> str:
    """PostgreSQL only (tests of row locks and concurrency that SQLite serialises away)."""
    _truncate_pg(pg_schema_url)
    return pg_schema_url


@pytest.fixture
def pg_platform(pg_url: str, clock: FixedClock, gateway: LoopbackGateway) -> Iterator[Platform]:
    yield from _platform(pg_url, clock, gateway)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "mingbai.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_schema_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def gateway() -> LoopbackGateway:
    return LoopbackGateway()


@pytest.fixture
def platform(db_url: str, clock: FixedClock, gateway: LoopbackGateway) -> Iterator[Platform]:
    yield from _platform(db_url, clock, gateway)


@pytest.fixture
def demo(platform: Platform) -> Platform:
    """The platform in the demo mode (MINGBAI_DEMO=1): the handset page is served."""
    platform.settings = dataclasses.replace(platform.settings, demo=True)
    return platform


def _platform(db_url: str, clock: FixedClock, gateway: LoopbackGateway) -> Iterator[Platform]:
    settings = Settings(database_url=db_url, code_secret="test-secret", tick_seconds=1, secret_keys=(TEST_SEALING_KEY,))
    p = Platform(settings, clock=clock, gateway=gateway, database=Database(make_engine(db_url)))
    with p.uow() as ctx:
        import_catalog(ctx, DEMO_CATALOG)
    yield p
    p.db.engine.dispose()
