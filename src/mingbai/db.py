"""Storage plumbing shared by every capability: the declarative base, column types,
the engine factory and the unit of work.

Capabilities own their tables (``<capability>/models.py``); this module owns only how we
talk to the database. SQLite is the embedded default, PostgreSQL (psycopg 3) production.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import BigInteger, Connection, DateTime, Engine, MetaData, Table, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from mingbai.clock import Clock
from mingbai.config import Settings

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


_M = TypeVar("_M", bound=type[Base])

#: the ``Table.info`` key that marks an append-only table (see :func:`append_only`)
APPEND_ONLY = "append_only"


def append_only(model: _M) -> _M:
    """Mark a model's table append-only: history that the application itself may not rewrite.

    On PostgreSQL the application's role (``mingbai.dbroles``) may only INSERT and SELECT such a
    table: no UPDATE, DELETE or TRUNCATE, and, owning nothing, it cannot disable or drop a
    trigger either. The capability that owns the table declares it, above the class::

        @append_only
        class SubscriptionEvent(Base): ...

    and ``mingbai db upgrade`` (or ``mingbai db roles``) grants accordingly. A table the
    application UPDATEs or DELETEs from, even once, is not append-only."""
    table_of(model).info[APPEND_ONLY] = True
    return model


def append_only_tables(metadata: MetaData) -> tuple[str, ...]:
    """The names of the tables marked :func:`append_only`, sorted."""
    return tuple(sorted(t.name for t in metadata.tables.values() if t.info.get(APPEND_ONLY)))


def table_of(model: type[Base]) -> Table:
    """The Core table behind a mapped class: hot-path writes use Core, which skips the ORM's
    unit-of-work bookkeeping (several times cheaper per row)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


# SQLite has no 64-bit autoincrement on composite keys; we generate ids ourselves anyway.
Id = BigInteger().with_variant(BigInteger(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text that sorts correctly.
    A naive datetime is refused: it is always a bug upstream.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces and text as it is: how JSON columns are written (so the
    text the databases keep is the hash chain's canonical form of an event detail, and verifying
    hashes it as stored). One encoder for every call: ``json.dumps`` with options builds one
    per call, a third of the cost of a small detail."""
    return _CANONICAL.encode(value)


_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine from a URL; ``postgresql://`` means psycopg 3."""
    kwargs.setdefault("json_serializer", canonical_json)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the handset page read while the scheduler writes; NORMAL sync is
            # durable across process crashes, which is the embedded default's promise.
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # pysqlite's default transaction handling defers BEGIN; make writers take the lock
        # at the start so two writers queue instead of failing with "database is locked".
        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@dataclass
class Ctx:
    """What a service function needs: one open transaction, the clock and the settings.

    Service functions never commit; the adapter that opened the unit of work does.
    """

    session: Session
    clock: Clock
    settings: Settings
    #: MTs written to the outbox in this unit of work (messaging.service.Outgoing), so the
    #: adapter can show them and an in-process gateway can deliver them before the commit
    enqueued: list[Any] = field(default_factory=list)
    #: an in-process gateway (messaging.gateways.LoopbackGateway) that delivers at enqueue time
    inline_gateway: Any = None
    #: MSISDNs whose hash chains this transaction holds locked (``mingbai.hashchain``), so a
    #: later write to their chains needs no lock statement of its own; a savepoint that rolls
    #: back (and releases the locks taken in it) restores it (``savepoint``)
    chain_locks: set[str] = field(default_factory=set)

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """``session.begin_nested()``; when it rolls back, so do the locks it took."""
        held = set(self.chain_locks)
        try:
            with self.session.begin_nested():
                yield
        except BaseException:
            self.chain_locks = held
            raise

    @property
    def conn(self) -> Connection:
        """The unit of work's connection, for Core statements on hot paths: several times less
        Python per statement than going through the ORM session, same transaction."""
        return self.session.connection()

    @property
    def driver(self) -> Any:
        """The DB-API connection under this unit of work (psycopg or sqlite3), in its
        transaction: for what SQLAlchemy has no word for (COPY, server-side cursors, pipelines)
        or where its per-row result processing is the cost."""
        raw = self.conn.connection.driver_connection
        assert raw is not None
        return raw

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    @property
    def citus(self) -> bool:
        """Whether the database is a Citus coordinator (docs/citus.md): a statement over many
        subscribers is then spread over shards, and some need another form (no FOR UPDATE)."""
        return is_citus(self.session.get_bind(), self.session.connection())


_CITUS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def is_citus(engine: Any, conn: Connection | None = None) -> bool:
    """Whether ``engine``'s database has the Citus extension; asked once per engine."""
    known = _CITUS.get(engine)
    if known is None:
        if engine.dialect.name != "postgresql":
            known = False
        else:
            query = text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
            if conn is not None:
                known = conn.execute(query).scalar() is not None
            else:
                with engine.connect() as own:
                    known = own.execute(query).scalar() is not None
        _CITUS[engine] = known
    return known


def shard_groups(ctx: Ctx, table: str, msisdns: list[str]) -> list[list[str]]:
    """On Citus: ``msisdns`` grouped by the shard of ``table`` that holds them, groups in shard
    order and each in MSISDN order (a statement per group is a single-shard router query)."""
    rows = ctx.conn.execute(
        text(
            "SELECT m, get_shard_id_for_distribution_column(CAST(:t AS regclass), m) "
            "FROM unnest(CAST(:ms AS text[])) AS m"
        ),
        {"t": table, "ms": msisdns},
    ).all()
    groups: dict[int, list[str]] = {}
    for msisdn, shard in rows:
        groups.setdefault(int(shard), []).append(msisdn)
    return [sorted(groups[shard]) for shard in sorted(groups)]


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


class PlatformLike(Protocol):
    """What a capability's long-running use case needs of the composition root (``mingbai.platform``):
    its clock, settings, database and units of work. Capabilities depend on this, never on ``Platform``."""

    clock: Clock
    settings: Settings
    db: Database

    def uow(self) -> AbstractContextManager[Ctx]: ...


def upsert(
    session: Session | Connection, table: Any, rows: list[dict[str, Any]], keys: list[str], chunk: int = 2000
) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE on SQLite and PostgreSQL alike (every column given
    but the keys and ``created_at`` is updated)."""
    if not rows:
        return
    stmt = _upsert_statement(_dialect(session), table, tuple(keys), tuple(rows[0]))
    for i in range(0, len(rows), chunk):
        session.execute(stmt, rows[i : i + chunk])


@functools.cache
def _upsert_statement(dialect: str, table: Any, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    # built once per shape: constructing the statement costs more Python than executing it
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    stmt = dialect_insert(table)
    update_cols = {c: getattr(stmt.excluded, c) for c in columns if c not in keys and c != "created_at"}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=update_cols)


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """A plain multi-row INSERT, the hot paths' way to write (every row has the same keys).

    On PostgreSQL one row is one INSERT and many rows are one COPY, straight through psycopg with
    each column's SQLAlchemy bind processing applied (a fifth of SQLAlchemy's Python per row, and
    the cheapest way into the table for the server); elsewhere it is SQLAlchemy's executemany.
    Constraints hold as for any INSERT: a duplicate key fails the statement.
    """
    if not rows:
        return
    plan = _pg_plan(conn, table, tuple(rows[0]), None, None)
    if plan is None:
        conn.execute(table.insert(), rows)
        return
    with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
        if len(rows) == 1:
            cur.execute(plan.sql, plan.params(rows[0]))
            return
        with cur.copy(plan.copy_sql) as copy:
            for row in rows:
                copy.write_row(plan.params(row))


def insert_ignore(
    session: Session | Connection, table: Any, rows: list[dict[str, Any]], keys: list[str] | None = None
) -> int:
    """INSERT … ON CONFLICT DO NOTHING; returns how many rows were new."""
    if not rows:
        return 0
    return len(_insert_ignore(session, table, rows, keys, list(table.primary_key.columns)))


def insert_ignore_new(session: Session | Connection, table: Any, rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING; returns the primary keys of the rows that were new."""
    if not rows:
        return set()
    return {tuple(r) for r in _insert_ignore(session, table, rows, None, list(table.primary_key.columns))}


def insert_new(
    session: Session | Connection, table: Any, rows: list[dict[str, Any]], keys: list[str], returning: str
) -> set[Any]:
    """INSERT … ON CONFLICT (keys) DO NOTHING; returns the ``returning`` column of the rows that
    were new (the others conflicted and were not written)."""
    if not rows:
        return set()
    conn = session if isinstance(session, Connection) else session.connection()
    plan = _pg_plan(conn, table, tuple(rows[0]), tuple(keys), returning)
    if plan is None:
        return {r[0] for r in _insert_ignore(session, table, rows, keys, [table.c[returning]])}
    new: set[Any] = set()
    with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
        cur.executemany(plan.sql, [plan.params(r) for r in rows], returning=True)
        while True:
            new.update(r[0] for r in cur.fetchall())
            if not cur.nextset():
                return new


@dataclass(frozen=True)
class _PgInsert:
    sql: str
    copy_sql: str
    columns: tuple[str, ...]
    #: SQLAlchemy's bind processing per column (None: the value goes as it is)
    processors: tuple[Any, ...]
    #: scalar Python-side defaults of the columns the rows leave out
    defaults: tuple[tuple[str, Any], ...]

    def params(self, row: dict[str, Any]) -> list[Any]:
        values = [row[c] if p is None else p(row[c]) for c, p in zip(self.columns, self.processors, strict=True)]
        values.extend(v for _, v in self.defaults)
        return values


def _pg_plan(
    conn: Connection, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] | None, returning: str | None
) -> _PgInsert | None:
    """The raw psycopg INSERT for these columns, or None where SQLAlchemy must do it (not
    PostgreSQL, or a left-out column with a computed default)."""
    if conn.dialect.name != "postgresql":
        return None
    return _build_pg_plan(conn.dialect, table, columns, conflict, returning)


@functools.cache
def _build_pg_plan(
    dialect: Dialect, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] | None, returning: str | None
) -> _PgInsert | None:
    defaults: list[tuple[str, Any]] = []
    for col in table.columns:
        if col.name in columns or col.default is None:
            continue
        if not col.default.is_scalar:
            return None
        defaults.append((col.name, col.default.arg))  # type: ignore[attr-defined]
    q = dialect.identifier_preparer
    names = [*columns, *(name for name, _ in defaults)]
    target = f"{q.format_table(table)} ({', '.join(q.quote(n) for n in names)})"
    sql = f"INSERT INTO {target} VALUES ({', '.join(['%s'] * len(names))})"
    if conflict is not None:
        sql += f" ON CONFLICT ({', '.join(q.quote(k) for k in conflict)})"
        where = conflict_where(table, conflict, dialect.name)
        if where is not None:
            sql += f" WHERE {where}"
        sql += " DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {q.quote(returning)}"
    processors = tuple(table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns)
    return _PgInsert(sql, f"COPY {target} FROM STDIN", columns, processors, tuple(defaults))


def _insert_ignore(
    session: Session | Connection, table: Any, rows: list[dict[str, Any]], keys: list[str] | None, returning: list[Any]
) -> list[Any]:
    dialect = _dialect(session)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    # Count what RETURNING gives back: with SQLAlchemy 2.1 + psycopg the rowcount of a Core
    # INSERT is -1, which would make every row look new (and every dedupe key look unused).
    where = None if keys is None else conflict_where(table, tuple(keys), dialect)
    stmt = (
        dialect_insert(table)
        .on_conflict_do_nothing(index_elements=keys, index_where=None if where is None else text(where))
        .returning(*returning)
    )
    return list(session.execute(stmt, rows).all())


@functools.cache
def conflict_where(table: Table, keys: tuple[str, ...], dialect: str) -> str | None:
    """The predicate of the partial unique index on exactly ``keys``, if that is what it is.

    ``ON CONFLICT (keys)`` finds a partial unique index only when it repeats the index's WHERE;
    reading it from the index keeps the two from drifting apart."""
    for index in table.indexes:
        if index.unique and tuple(c.name for c in index.columns) == keys:
            where = index.dialect_options[dialect].get("where") if dialect in ("postgresql", "sqlite") else None
            return None if where is None else str(where)
    return None


def _dialect(session: Session | Connection) -> str:
    if isinstance(session, Connection):
        return session.dialect.name
    return session.get_bind().dialect.name
