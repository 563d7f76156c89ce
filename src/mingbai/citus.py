"""Scale-out on Citus: which table lives where, and the step of ``mingbai db upgrade`` that puts it there.

Every subscriber-scoped table (the MSISDN in its primary key) becomes a distributed table on
``msisdn``, co-located with ``subscriber``: one subscriber's rows are on one shard, so every
statement of the order flow names one MSISDN and is a single-shard router query. The catalog and
configuration tables, read by those statements, become reference tables (a copy on every node).
The rest, operational tables that no per-subscriber statement joins (runs, leases, sign-in
throttles, web sessions), stay plain tables on the coordinator.

The same Alembic migrations build the schema on SQLite, PostgreSQL and Citus; this step runs after
them, only on a Citus coordinator (``citus`` in ``pg_extension``), or when ``MINGBAI_CITUS=on``
demands it (``off`` never distributes). It is idempotent: a table distributed already is left
alone, so a later migration's new table is distributed by the next upgrade. Where Citus needs
another mechanism for a guarantee, it changes the mechanism here (docs/citus.md):

* a unique index without the MSISDN (``spam_report.id``, ``spam_review.id``,
  ``campaign_target (campaign_id, seq)``) gets the MSISDN appended; Citus can only enforce
  uniqueness within a shard. Ids are unique per MSISDN by design (``mingbai.ids``).
* ``subscription_event``'s append-only trigger is kept: it only raises, so it reads and writes no
  other shard, which is what ``citus.enable_unsafe_triggers`` warns about. It is allowed for the
  one statement that distributes the table and then lives on every shard.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from sqlalchemy import Connection, MetaData, text

#: the distribution column, and the table every distributed table is co-located with
DIST_COLUMN = "msisdn"
ANCHOR = "subscriber"

#: catalog and configuration: small, read by per-subscriber statements, changed rarely
REFERENCE_TABLES = (
    "sp",
    "service",
    "platform_key",
    "api_key",
    "staff_user",
    "spam_strategy",
    "spam_strategy_activation",
    "spam_port",
)

#: how many shards each distributed table has (the co-location group's count)
DEFAULT_SHARD_COUNT = 32


@dataclass(frozen=True)
class Placement:
    distributed: tuple[str, ...]
    reference: tuple[str, ...]
    local: tuple[str, ...]


def placement(metadata: MetaData) -> Placement:
    """Where each table of the models goes on Citus."""
    distributed: list[str] = []
    reference: list[str] = []
    local: list[str] = []
    for table in metadata.sorted_tables:  # referenced tables first
        if DIST_COLUMN in {c.name for c in table.primary_key.columns}:
            distributed.append(table.name)
        elif table.name in REFERENCE_TABLES:
            reference.append(table.name)
        else:
            local.append(table.name)
    distributed.sort(key=lambda name: name != ANCHOR)
    return Placement(tuple(distributed), tuple(reference), tuple(local))


def mode() -> str:
    """``MINGBAI_CITUS``: auto (distribute when the database is a Citus coordinator), on, off."""
    value = os.environ.get("MINGBAI_CITUS", "auto").strip().lower() or "auto"
    if value not in ("auto", "on", "off"):
        raise ValueError(f"MINGBAI_CITUS must be auto, on or off; got {value!r}")
    return value


def is_citus(conn: Connection) -> bool:
    """Whether this PostgreSQL database has the Citus extension (a coordinator, for us)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).scalar() is not None


def citus_tables(conn: Connection) -> dict[str, str]:
    """Tables of the current schema in Citus' metadata: name → 'distributed' | 'reference' | 'local'."""
    rows = conn.execute(
        text(
            "SELECT c.relname, p.partmethod FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
            "WHERE c.relnamespace = to_regnamespace(current_schema())"
        )
    )
    kinds = {"h": "distributed", "n": "reference"}
    return {name: kinds.get(method, "local") for name, method in rows}


def shard_count() -> int:
    raw = os.environ.get("MINGBAI_CITUS_SHARD_COUNT", "")
    count = int(raw) if raw.strip() else DEFAULT_SHARD_COUNT
    if count < 1:
        raise ValueError(f"MINGBAI_CITUS_SHARD_COUNT must be at least 1, got {count}")
    return count


def distribute(conn: Connection, metadata: MetaData, shards: int | None = None) -> list[str]:
    """Make the schema's tables distributed or reference tables as :func:`placement` says;
    returns what it did (one line per table). Call inside a transaction on a Citus coordinator."""
    plan = placement(metadata)
    done = citus_tables(conn)
    present = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
    actions: list[str] = []
    for name in plan.reference:
        if name in present and name not in done:
            conn.execute(text("SELECT create_reference_table(:t)"), {"t": name})
            actions.append(f"{name}: reference table")
    count = shards or shard_count()
    for name in plan.distributed:
        if name not in present or name in done:
            continue
        _carry_msisdn_in_unique_indexes(conn, name)
        triggers = _has_triggers(conn, name)
        if triggers:
            conn.execute(text("SET LOCAL citus.enable_unsafe_triggers = on"))
        if name == ANCHOR:
            conn.execute(
                text("SELECT create_distributed_table(:t, :c, shard_count => :n, colocate_with => 'none')"),
                {"t": name, "c": DIST_COLUMN, "n": count},
            )
        else:
            conn.execute(
                text("SELECT create_distributed_table(:t, :c, colocate_with => :a)"),
                {"t": name, "c": DIST_COLUMN, "a": ANCHOR},
            )
        if triggers:
            conn.execute(text("SET LOCAL citus.enable_unsafe_triggers = off"))
        actions.append(f"{name}: distributed on {DIST_COLUMN}")
    return actions


def _has_triggers(conn: Connection, table: str) -> bool:
    return bool(
        conn.execute(
            text("SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal"), {"t": table}
        ).scalar()
    )


_COLUMNS = re.compile(r"^(CREATE UNIQUE INDEX \S+ ON \S+ USING \w+ \()([^)]*)(\).*)$", re.DOTALL)


def _carry_msisdn_in_unique_indexes(conn: Connection, table: str) -> None:
    """Citus enforces uniqueness per shard, so a unique index must contain the distribution
    column: append it to the ones that lack it (same name, same predicate)."""
    rows = conn.execute(
        text(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid), con.conname FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid "
            "WHERE x.indrelid = to_regclass(:t) AND x.indisunique AND NOT x.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = x.indrelid "
            "                AND a.attname = :c AND a.attnum = ANY (x.indkey))"
        ),
        {"t": table, "c": DIST_COLUMN},
    ).all()
    for index, definition, constraint in rows:
        match = _COLUMNS.match(definition)
        if match is None:
            raise RuntimeError(f"cannot add {DIST_COLUMN} to unique index {index}: {definition}")
        head, columns, tail = match.groups()
        if constraint is not None:
            conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"'))
        else:
            conn.execute(text(f'DROP INDEX "{index}"'))
        conn.execute(text(f"{head}{columns}, {DIST_COLUMN}{tail}"))
