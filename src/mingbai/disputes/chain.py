"""The consent records' hash chains read back (R8): verifying the database, exporting a
self-contained bundle and verifying one. The chain itself (hashing, linking, verifying rows) is
``mingbai.hashchain``, below the writers that call it."""

from __future__ import annotations

import gc
import itertools
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import text

from mingbai.db import Ctx
from mingbai.hashchain import (
    CHAINED,
    Verification,
    canonical,
    combine,
    field_text,
    genesis,
    link,
    row_hash,
    verify_rows,
    verify_texts,
)
from mingbai.messaging.models import MoMessage
from mingbai.msisdn import normalize_msisdn
from mingbai.subscriptions.models import SubscriptionEvent

__all__ = [
    "BUNDLE_FORMAT",
    "CHAINED",
    "Verification",
    "canonical",
    "export_bundle",
    "genesis",
    "link",
    "row_hash",
    "verify_bundle",
    "verify_database",
    "verify_rows",
]


def _select(table: str, msisdn: str | None) -> tuple[str, dict[str, Any]]:
    cols = ", ".join(CHAINED[table])
    where = "chain_seq IS NOT NULL" + (" AND msisdn = :m" if msisdn else "")
    return f"SELECT {cols}, chain_seq, chain_hash FROM {table} WHERE {where} ORDER BY msisdn, chain_seq", (
        {"m": msisdn} if msisdn else {}
    )


def _stream(ctx: Ctx, table: str, msisdn: str | None) -> Iterable[dict[str, Any]]:
    model = {"subscription_event": SubscriptionEvent, "mo_message": MoMessage}[table]
    sql, params = _select(table, msisdn)
    # the columns' own types bring back aware datetimes and JSON as the writer saw them
    stmt = text(sql).columns(*[model.__table__.c[c] for c in (*CHAINED[table], "chain_seq", "chain_hash")])
    result = ctx.conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt, params)
    for row in result.mappings():
        yield {**row, "chain_hash": bytes(row["chain_hash"])}


#: told of each part of a table as its walk ends: the table, how many parts it has, what the part found
OnPart = Callable[[str, int, Verification], None]


def verify_database(
    ctx: Ctx,
    *,
    msisdn: str | None = None,
    parallel: int | None = None,
    heads: bool | None = None,
    on_part: OnPart | None = None,
) -> Verification:
    """Every chain in the database (or one subscriber's), walked in Python over *text rows*
    (``hashchain.verify_texts``): the database hands each field over as the text the hash
    covers, so a row costs the walk one f-string and one SHA-256, and no typed values are built.

    Chains are independent, so on PostgreSQL a large table is split into MSISDN ranges (cut
    from a sample of the chained rows) walked by ``parallel`` worker processes (default: one per
    core), each on its own connection in this transaction's snapshot: what they verify is what
    this transaction sees. On Citus the parts are the shards, each read on its own worker.
    Hashing is CPU work that holds Python's lock, hence processes, not threads.

    The chains' heads (each one's newest seq and hash) come back for one subscriber, and for the
    whole database only when ``heads`` asks: there would be one per subscriber. ``on_part``
    hears of each part (a range, a shard, or a table walked whole) as it ends: a progress bar."""
    m = normalize_msisdn(msisdn) if msisdn else None
    keep = m is not None if heads is None else heads
    told = on_part or (lambda table, parts, found: None)
    with _collector_paused():
        return combine([_verify_table(ctx, table, m, parallel, keep, told) for table in CHAINED])


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A walk makes millions of short-lived tuples and no reference cycles: the cyclic garbage
    collector would only walk them again and again (a fifth of the time); forked workers inherit
    the pause."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _verify_table(
    ctx: Ctx, table: str, m: str | None, parallel: int | None, heads: bool, on_part: OnPart
) -> Verification:
    workers = parallel or min(8, os.cpu_count() or 1)
    split = m is None and workers > 1 and ctx.dialect == "postgresql"
    if split and ctx.citus:
        shards = _shards(ctx, table, always=parallel is not None)
        if shards:
            return _walk_shards(ctx, table, shards, workers, heads, on_part)
    ranges = _ranges(ctx, table, workers, always=parallel is not None) if split and not ctx.citus else []
    if len(ranges) > 1:
        return _walk_parallel(ctx, table, ranges, workers, heads, on_part)
    if ctx.dialect == "sqlite":
        found = _walk_sqlite(ctx, table, m, heads)
    else:
        found = _walk_pg(ctx.driver, table, ("=", m) if m else None, heads)
    on_part(table, 1, found)
    return found


def _text_select(table: str, dialect: str, where: str, source: str | None = None) -> str:
    """A table's chained rows as text rows, in chain order (read from ``source``, one of the
    table's shards on Citus, when given)."""
    time_col = "received_at" if table == "mo_message" else "at"
    if dialect == "sqlite":  # UtcDateTime's naive UTC text, always with six fraction digits
        at = f"CASE WHEN substr({time_col}, 20) = '.000000' THEN substr({time_col}, 1, 19) ELSE {time_col} END"
    else:
        at = f"CAST({time_col} AT TIME ZONE 'UTC' AS text)"
    cols = [
        "msisdn" if c == "msisdn" else at if c == time_col else f"coalesce(CAST({c} AS text), '')"
        for c in CHAINED[table]
    ]
    return (
        f"SELECT {', '.join(cols)}, chain_seq, chain_hash FROM {source or table} "
        f"WHERE chain_seq IS NOT NULL {where} ORDER BY msisdn, chain_seq"
    )


#: a walk's rows: one subscriber's (``("=", m)``), an MSISDN range (``lo`` ≤ msisdn < ``hi``,
#: either end open), or every row (``None``)
Span = tuple[str, str] | tuple[str | None, str | None] | None


def _where(span: Span, ph: Callable[[str], str]) -> tuple[str, dict[str, str]]:
    """The span as SQL with the driver's placeholders (``ph``), and its parameters."""
    if span is None:
        return "", {}
    if span[0] == "=":
        assert span[1] is not None
        return f" AND msisdn = {ph('m')}", {"m": span[1]}
    lo, hi = span
    params = {k: v for k, v in (("lo", lo), ("hi", hi)) if v is not None}
    return (f" AND msisdn >= {ph('lo')}" if lo else "") + (f" AND msisdn < {ph('hi')}" if hi else ""), params


def _walk_sqlite(ctx: Ctx, table: str, msisdn: str | None, heads: bool) -> Verification:
    where, params = _where(("=", msisdn) if msisdn else None, lambda k: f":{k}")
    cur = ctx.driver.execute(_text_select(table, "sqlite", where), params)
    return verify_texts(table, _batches(cur), db_time=True, heads=heads)


def _batches(cur: Any, size: int = 10_000) -> Iterator[Any]:
    while part := cur.fetchmany(size):
        yield from part


def _walk_pg(conn: Any, table: str, span: Span, heads: bool, source: str | None = None) -> Verification:
    """Stream the rows through a server-side cursor (psycopg) straight into the walk."""
    with conn.cursor() as cur:
        cur.execute("SET LOCAL datestyle = 'ISO, YMD'")
        cur.execute("SET LOCAL work_mem = '64MB'")  # the sort of a range in memory
    with conn.cursor(name=f"chain_{table}") as cur:
        where, params = _where(span, lambda k: f"%({k})s")
        cur.execute(_text_select(table, "postgresql", where, source), params)
        return verify_texts(table, _batches(cur), db_time=True, heads=heads)


def _ranges(ctx: Ctx, table: str, workers: int, *, always: bool) -> list[tuple[str | None, str | None]]:
    """MSISDN ranges of about equal numbers of chained rows, cut from a sample of about 20,000
    of them (``TABLESAMPLE``: a few pages, not a pass over the table); none when the table is
    too small to be worth a second process, unless ``always``."""
    rows = ctx.conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}
    ).scalar()
    if not always and (not rows or rows < _PARALLEL_FROM):
        return []
    percent = min(100.0, 100.0 * 20_000 / rows) if rows and rows > 0 else 100.0
    sample = sorted(
        m
        for (m,) in ctx.conn.execute(
            text(f"SELECT msisdn FROM {table} TABLESAMPLE SYSTEM (:p) WHERE chain_seq IS NOT NULL"), {"p": percent}
        )
    )
    parts = workers * 2  # more ranges than workers: a slow range does not hold up the rest
    cuts = sorted({sample[len(sample) * k // parts] for k in range(1, parts)}) if sample else []
    edges: list[str | None] = [None, *cuts, None]
    return list(itertools.pairwise(edges))


#: below this many rows (the planner's estimate) a table is walked on this connection
_PARALLEL_FROM = 200_000


def _walk_parallel(
    ctx: Ctx, table: str, ranges: list[tuple[str | None, str | None]], workers: int, heads: bool, on_part: OnPart
) -> Verification:
    snapshot = ctx.conn.execute(text("SELECT pg_export_snapshot()")).scalar()
    jobs = [(_conninfo(ctx), str(snapshot), table, lo, hi, heads) for lo, hi in ranges]
    return _first_bad_first(_in_processes(_walk_range, jobs, workers, lambda found: on_part(table, len(jobs), found)))


def _conninfo(ctx: Ctx) -> str:
    """How a worker process connects as this unit of work does: same role, database and
    options (the password too, which the connection's own dsn leaves out)."""
    info = ctx.driver.info
    return str(make_conninfo(info.dsn, password=info.password) if info.password else info.dsn)


def _in_processes(
    walk: Callable[[Any], Verification], jobs: list[Any], workers: int, done: Callable[[Verification], None]
) -> list[Verification]:
    # fork: the workers need only this module, and open their own connections
    parts = []
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("fork")) as pool:
        for found in pool.map(walk, jobs):
            done(found)
            parts.append(found)
    return parts


def _first_bad_first(parts: list[Verification]) -> Verification:
    """The walks of one table's parts as one: the first bad row is the one of the lowest MSISDN
    (each part stops at its own first), as a walk of the whole table in MSISDN order finds it."""
    failed = [p for p in parts if not p.ok and p.first_bad is not None]
    if not failed:
        return combine(parts)
    first = min(failed, key=lambda p: str(p.first_bad["msisdn"]) if p.first_bad else "")
    return combine([first, *[p for p in parts if p is not first]])


def _shards(ctx: Ctx, table: str, *, always: bool) -> list[tuple[str, int, str]]:
    """On Citus: (worker host, port, shard) for every shard of ``table``; none when its shards
    together hold too few rows (the planner's estimates) to be worth the processes, unless
    ``always``."""
    rows = ctx.conn.execute(
        text(
            "SELECT p.nodename, p.nodeport, shard_name(s.logicalrelid, s.shardid) "
            "FROM pg_dist_shard s JOIN pg_dist_shard_placement p ON p.shardid = s.shardid "
            "WHERE s.logicalrelid = CAST(:t AS regclass) ORDER BY s.shardid"
        ),
        {"t": table},
    ).all()
    if not always:
        estimate = ctx.conn.execute(
            text(
                "SELECT coalesce(sum(CAST(result AS real)), 0) FROM run_command_on_shards("
                "CAST(:t AS regclass), $$SELECT reltuples FROM pg_class WHERE oid = CAST('%s' AS regclass)$$)"
            ),
            {"t": table},
        ).scalar()
        if not estimate or estimate < _PARALLEL_FROM:
            return []
    return [(str(host), int(port), str(shard)) for host, port, shard in rows]


def _walk_shards(
    ctx: Ctx, table: str, shards: list[tuple[str, int, str]], workers: int, heads: bool, on_part: OnPart
) -> Verification:
    """Each shard walked on its worker, next to its rows (a subscriber's chain is in one shard):
    one connection per shard straight to the worker, as this connection's role."""
    base = _conninfo(ctx)
    jobs = [(make_conninfo(base, host=host, port=port), table, shard, heads) for host, port, shard in shards]
    return _first_bad_first(_in_processes(_walk_shard, jobs, workers, lambda found: on_part(table, len(jobs), found)))


def _walk_shard(job: tuple[str, str, str, bool]) -> Verification:
    conninfo, table, shard, heads = job
    with psycopg.connect(conninfo) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return _walk_pg(conn, table, None, heads, source=shard)


def _walk_range(job: tuple[str, str, str, str | None, str | None, bool]) -> Verification:
    conninfo, snapshot, table, lo, hi, heads = job
    with psycopg.connect(conninfo) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return _walk_pg(conn, table, (lo, hi), heads)


# -- bundles ------------------------------------------------------------------------------------


BUNDLE_FORMAT = "mingbai-evidence/1"


def _encode(table: str, r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"table": table}
    for c in CHAINED[table]:
        v = r[c]
        out[c] = field_text(v) if isinstance(v, datetime) else v
    out["chain_seq"] = r["chain_seq"]
    out["chain_hash"] = r["chain_hash"].hex()
    return out


def _decode(r: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    table = r["table"]
    if table not in CHAINED:
        raise ValueError(f"unknown table in bundle: {table!r}")
    row = dict(r)
    for c in ("at", "received_at"):
        if c in row and isinstance(row[c], str):
            row[c] = datetime.fromisoformat(row[c]).astimezone(UTC)
    row["chain_hash"] = bytes.fromhex(row["chain_hash"])
    return table, row


def export_bundle(ctx: Ctx, *, msisdn: str, evidence: Any = None) -> dict[str, Any]:
    """A self-contained bundle: the subscriber's whole chains (events and MOs) with their
    hashes, the evidence view built from them, and the heads at export time."""
    m = normalize_msisdn(msisdn)
    rows: list[dict[str, Any]] = []
    for t in CHAINED:
        rows.extend(_encode(t, r) for r in _stream(ctx, t, m))
    check = verify_bundle({"format": BUNDLE_FORMAT, "rows": rows})
    return {
        "format": BUNDLE_FORMAT,
        "msisdn": m,
        "exported_at": field_text(ctx.now()),
        "heads": check.heads,
        "evidence": evidence,
        "rows": rows,
    }


def verify_bundle(bundle: dict[str, Any]) -> Verification:
    """Verify an exported bundle on its own: every row's hash, the sequence, and the heads it
    claims (a row removed from the end of a chain is caught by the recorded head)."""
    if bundle.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"not an evidence bundle (format {bundle.get('format')!r})")
    by_table: dict[str, list[dict[str, Any]]] = {t: [] for t in CHAINED}
    for raw in bundle.get("rows", []):
        table, row = _decode(raw)
        by_table[table].append(row)
    parts = [verify_rows(t, sorted(rows, key=lambda r: (r["msisdn"], r["chain_seq"]))) for t, rows in by_table.items()]
    result = combine(parts)
    claimed = bundle.get("heads")
    if result.ok and claimed is not None and result.heads != claimed:
        gone = sorted(set(claimed) ^ set(result.heads or {})) or sorted(
            k for k in claimed if (result.heads or {}).get(k) != claimed[k]
        )
        return Verification(
            False,
            result.rows_checked,
            result.chains,
            {"chain": gone[0] if gone else None, "why": "the bundle's recorded head does not match its rows"},
        )
    return result
