"""Fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL is found at $MINGBAI_TEST_PG_URL (default: the machine's 127.0.0.1:5432/test).
When it is absent its tests skip, unless MINGBAI_REQUIRE_PG=1 (CI), which makes absence an error.
Each pytest-xdist worker gets its own schema, migrated once with Alembic and truncated per test.

On PostgreSQL the tests run as the platform does in production (docs/database-roles.md): the
schema is migrated by the owner role (the user of $MINGBAI_TEST_PG_URL), which then grants the
application role ($MINGBAI_TEST_APP_ROLE, default ``mingbai_app``) as ``mingbai db upgrade`` does;
``db_url``, ``pg_url`` and the platforms built on them connect as the application role, so the
whole suite proves the platform works with INSERT and SELECT only on the append-only tables.
What a test does to the data that the platform itself may not (emptying tables between tests,
tampering with history to see it detected) goes through :func:`owner_url` / ``owner_uow``.

The modules in CITUS_MODULES run their ``db_url`` and ``pg_url`` tests on a third backend too: the
local Citus cluster of ``scripts/citus`` (a coordinator and two workers), found at
$MINGBAI_TEST_CITUS_URL or started for the session and stopped and removed at its end. Those tests
carry the ``citus`` marker; they skip when Citus is not installed, unless MINGBAI_REQUIRE_CITUS=1
(CI), which builds and starts the cluster and makes any failure to do so an error.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mingbai.all_models import metadata
from mingbai.catalog.service import import_catalog
from mingbai.clock import SHANGHAI, FixedClock
from mingbai.config import Settings
from mingbai.db import Database, make_engine
from mingbai.dbroles import app_url, grant_url
from mingbai.demo import DEMO_CATALOG
from mingbai.messaging.gateways import LoopbackGateway
from mingbai.migrate import upgrade
from mingbai.platform import Platform
from mingbai.sealing import new_key_line

PG_URL = os.environ.get("MINGBAI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: the application role the PostgreSQL tests connect as (created by the first session that needs it)
APP_ROLE = os.environ.get("MINGBAI_TEST_APP_ROLE", "mingbai_app")
REQUIRE_PG = os.environ.get("MINGBAI_REQUIRE_PG") == "1"
REQUIRE_CITUS = os.environ.get("MINGBAI_REQUIRE_CITUS") == "1"
ROOT = Path(__file__).resolve().parent.parent

#: test modules that also run on Citus: the subscription core and gifts (two subscribers, two shards), billing with its kill safety,
#: objections (the disputes that exist so far) and the outbox
CITUS_MODULES = frozenset(
    {
        "tests/integration/test_flow.py",
        "tests/integration/test_gifts.py",
        "tests/vault/test_vault.py",
        "tests/disputes/test_chain_backends.py",
        "tests/integration/test_batch.py",
        "tests/integration/test_reminders.py",
        "tests/integration/test_race.py",
        "tests/charging/test_billing_run.py",
        "tests/charging/test_kill.py",
        "tests/charging/test_objections.py",
        "tests/smpp/test_outbox.py",
    }
)

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


#: the owner's URL of each application URL the fixtures hand out (same database and schema)
_OWNERS: dict[str, str] = {}


def owner_url(url: str) -> str:
    """The URL that connects to ``url``'s database and schema as the owner role: for what a test
    does that the platform may not (``url`` itself on SQLite, and where one role does both)."""
    return _OWNERS.get(url, url)


def as_app_role(owner: str) -> str:
    """Grant the application role on ``owner``'s schema (as ``mingbai db upgrade`` does) and
    return the URL that connects there as it."""
    grant_url(owner, metadata, APP_ROLE)
    url = app_url(owner, APP_ROLE)
    _OWNERS[url] = owner
    return url


@pytest.fixture(scope="session")
def pg_schema_url() -> str:
    _, url = fresh_pg_schema("t")
    upgrade(url)
    return as_app_role(url)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """SQLite and PostgreSQL for every ``db_url`` test, PostgreSQL for every ``pg_url`` one; Citus
    besides for the modules in CITUS_MODULES."""
    module = Path(metafunc.definition.path).resolve().relative_to(ROOT).as_posix()
    on_citus = module in CITUS_MODULES
    citus = [pytest.param("citus", marks=pytest.mark.citus)] if on_citus else []
    if "db_url" in metafunc.fixturenames:
        metafunc.parametrize("db_url", ["sqlite", "postgresql", *citus], indirect=True)
    elif "pg_url" in metafunc.fixturenames and citus:
        metafunc.parametrize("pg_url", ["postgresql", *citus], indirect=True)


def _citus_installed() -> bool:
    try:
        libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return (Path(libdir.strip()) / "citus.so").exists()


def _citus_unavailable(why: str) -> None:
    if REQUIRE_CITUS:
        pytest.fail(f"Citus required (MINGBAI_REQUIRE_CITUS=1): {why}", pytrace=False)
    pytest.skip(why)


def _scripts_citus(*args: str) -> str:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "citus"), *args], capture_output=True, text=True)
    if done.returncode != 0:
        _citus_unavailable(f"scripts/citus {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


@pytest.fixture(scope="session")
def citus_url() -> Iterator[str]:
    """The coordinator of a running Citus cluster: $MINGBAI_TEST_CITUS_URL, else the local one of
    ``scripts/citus``, started when needed and stopped (its data removed) when the last test
    session that uses it ends (pytest-xdist workers register in a folder beside the data)."""
    given = os.environ.get("MINGBAI_TEST_CITUS_URL")
    if given:
        yield given
        return
    if not _citus_installed() and not REQUIRE_CITUS:
        pytest.skip("Citus is not installed (bash scripts/citus install)")
    data = Path(os.environ.get("MINGBAI_CITUS_DIR", "/tmp/mingbai-citus"))
    users = data.parent / f"{data.name}.users"
    me = users / f"{os.getpid()}"
    with open(f"{users}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        users.mkdir(exist_ok=True)
        for stale in users.iterdir():  # sessions that died without their teardown
            if stale.name != "owned" and not _pid_alive(int(stale.name)):
                stale.unlink()
        if not any(p.name != "owned" for p in users.iterdir()):
            # the first user: own the cluster if nothing runs yet (a benchmark's cluster is left alone)
            running = (
                "running"
                in subprocess.run(
                    ["bash", str(ROOT / "scripts" / "citus"), "status"], capture_output=True, text=True
                ).stdout
            )
            (users / "owned").unlink(missing_ok=True)
            if not running:
                (users / "owned").touch()
        me.touch()
        url = _scripts_citus("start").strip().splitlines()[-1]
    yield url.replace("postgresql://", "postgresql+psycopg://", 1)
    with open(f"{users}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        me.unlink(missing_ok=True)
        alive = [p for p in users.iterdir() if p.name != "owned" and _pid_alive(int(p.name))]
        if not alive:
            owned = (users / "owned").exists()
            shutil.rmtree(users, ignore_errors=True)
            if owned:
                subprocess.run(["bash", str(ROOT / "scripts" / "citus"), "stop"], capture_output=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def citus_schema_url(citus_url: str) -> Iterator[str]:
    """A schema of this worker's on the Citus coordinator, migrated and distributed."""
    schema = f"t_{_worker()}"
    admin = create_engine(citus_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # reported as a skip, or a failure in CI
        _citus_unavailable(f"Citus coordinator not usable at {citus_url}: {exc}")
    url = f"{citus_url}?options=-csearch_path%3D{schema}"
    # few shards keep the per-test TRUNCATE quick; the co-location rules are the same at 32
    shards = os.environ.get("MINGBAI_CITUS_SHARD_COUNT")
    os.environ["MINGBAI_CITUS_SHARD_COUNT"] = os.environ.get("MINGBAI_TEST_CITUS_SHARDS", "4")
    try:
        actions = upgrade(url)
    finally:
        if shards is None:
            os.environ.pop("MINGBAI_CITUS_SHARD_COUNT", None)
        else:
            os.environ["MINGBAI_CITUS_SHARD_COUNT"] = shards
    assert actions, "the upgrade distributed nothing on a Citus coordinator"
    # the application role, as on PostgreSQL: Citus propagates the role and its grants to the workers
    yield as_app_role(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    """Empty the schema's tables, as its owner (the application role may not TRUNCATE)."""
    engine = make_engine(owner_url(url))
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
def pg_url(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only (tests of row locks and concurrency that SQLite serialises away); Citus
    too in CITUS_MODULES."""
    backend = getattr(request, "param", "postgresql")
    url: str = request.getfixturevalue("citus_schema_url" if backend == "citus" else "pg_schema_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def pg_platform(pg_url: str, clock: FixedClock, gateway: LoopbackGateway) -> Iterator[Platform]:
    yield from _platform(pg_url, clock, gateway)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Parametrized by pytest_generate_tests: sqlite, postgresql (and citus)."""
    if request.param == "sqlite":
        path = tmp_path / "mingbai.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("citus_schema_url" if request.param == "citus" else "pg_schema_url")
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
