"""The consent records' hash chains read back (R8): verifying the database, exporting a
self-contained bundle and verifying one. The chain itself (hashing, linking, verifying rows) is
``mingbai.hashchain``, below the writers that call it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from mingbai.db import Ctx
from mingbai.hashchain import (
    CHAINED,
    Verification,
    bad_row,
    canonical,
    combine,
    field_text,
    genesis,
    link,
    row_hash,
    verify_rows,
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


def verify_database(ctx: Ctx, *, msisdn: str | None = None, parallel: int | None = None) -> Verification:
    """Every chain in the database (or one subscriber's).

    On PostgreSQL the check is set-based, in the database: each row's hash must be SHA-256 of the
    stored hash of the row before it (``lag()`` over the subscriber's chain) and of its canonical
    content, built in SQL to the byte of :func:`mingbai.hashchain.canonical`; the sequence must
    run 1, 2, … . Checking every row against its predecessor's *stored* hash is the same proof as
    recomputing the chain from its start (the first row that does not follow is the same row),
    and makes the rows independent: MSISDN ranges are verified on ``parallel`` connections at
    once. Rows whose canonical content SQL does not rebuild exactly (an event detail with nested
    values or escapes PostgreSQL's text cannot hold) come back to Python with their predecessor's
    hash. SQLite and Citus verify in Python, streaming each chain in order."""
    m = normalize_msisdn(msisdn) if msisdn else None
    if ctx.dialect == "postgresql" and not ctx.citus:
        return combine([_verify_pg(ctx, t, m, parallel) for t in CHAINED])
    return combine([verify_rows(t, _stream(ctx, t, m)) for t in CHAINED])


def _iso_sql(col: str) -> str:
    """``_iso`` of hashchain in SQL: ISO 8601 in UTC, microseconds (six digits) only when there
    are some. The text of a ``timestamp`` under DateStyle ISO (which psycopg requires) trims
    the fraction's trailing zeros: padded back here."""
    t = f"CAST({col} AT TIME ZONE 'UTC' AS text)"
    return (
        f"overlay(rpad({t}, CASE WHEN length({t}) > 19 THEN 26 ELSE 19 END, '0') PLACING 'T' FROM 11 FOR 1) || '+00:00'"
    )


def _field_sql(expr: str) -> str:
    return f"char_length({expr}) || ':' || {expr}"


#: an event detail as ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
#: writes a flat object (to_json escapes a string as Python's json does; keys in code-point
#: order), or NULL where SQL cannot rebuild it exactly (not an object, nested values, escapes of
#: \u0000 or surrogates that PostgreSQL's text cannot hold): those rows are checked in Python
_DETAIL_SQL = (
    "CASE WHEN detail IS NULL THEN '' "
    "WHEN json_typeof(detail) <> 'object' OR CAST(detail AS text) ~* '\\\\u(0000|d[89a-f])' THEN NULL "
    "ELSE (SELECT CASE WHEN bool_or(json_typeof(e.value) IN ('object', 'array')) THEN NULL ELSE "
    "'{' || coalesce(string_agg(to_json(e.key)::text || ':' || CASE json_typeof(e.value) "
    "WHEN 'string' THEN to_json(e.value #>> '{}')::text ELSE e.value::text END, ',' "
    "ORDER BY e.key COLLATE \"C\"), '') || '}' END FROM json_each(detail) AS e) END"
)


def _content(table: str, detail: str) -> str:
    """The canonical content as SQL text (the event detail's canonical text given)."""
    if table == "mo_message":
        parts = ["msisdn", "CAST(id AS text)", "recipient", "text", "iso", "coalesce(handled_as, '')"]
    else:
        parts = [
            "msisdn",
            "CAST(id AS text)",
            "iso",
            "kind",
            "service_code",
            "coalesce(CAST(order_id AS text), '')",
            "coalesce(CAST(subscription_id AS text), '')",
            "actor",
            "channel",
            detail,
        ]
    return " || ".join(_field_sql(f"({x})") for x in parts)


def _verify_sql(table: str, where: str) -> str:
    cols = ", ".join(CHAINED[table])
    time_col = "received_at" if table == "mo_message" else "at"
    prev = f"coalesce(phash, sha256(convert_to('mingbai:{table}:' || msisdn, 'UTF8')))"
    # an event detail is hashed as stored first (JSON columns are written in the canonical form,
    # db.canonical_json); a detail written otherwise (before that, or by hand) is rebuilt from its
    # parsed value, and where SQL cannot rebuild it (``good`` NULL) Python checks the row
    stored = _content(table, "coalesce(CAST(detail AS text), '')")
    fast = f"chain_hash = sha256({prev} || convert_to({stored}, 'UTF8'))"
    rebuilt = _content(table, "x.d")
    good = (
        fast
        if table == "mo_message"
        else f"""CASE WHEN {fast} THEN true ELSE (
                SELECT chain_hash = sha256({prev} || convert_to({rebuilt}, 'UTF8'))
                FROM (SELECT {_DETAIL_SQL} AS d) AS x) END"""
    )
    # only the rows worth a look come back: bad ones, the ones SQL cannot rebuild, each chain's head
    return f"""
        SELECT * FROM (
            SELECT {cols}, chain_seq, chain_hash, pseq, phash, nseq IS NULL AS head, {good} AS good
            FROM (
                SELECT {cols}, chain_seq, chain_hash, {_iso_sql(time_col)} AS iso,
                       lag(chain_seq) OVER w AS pseq, lag(chain_hash) OVER w AS phash,
                       lead(chain_seq) OVER w AS nseq
                FROM {table}
                WHERE chain_seq IS NOT NULL {where}
                WINDOW w AS (PARTITION BY msisdn ORDER BY chain_seq)
            ) AS w
        ) AS r
        WHERE good IS NOT TRUE OR head OR chain_seq <> coalesce(pseq, 0) + 1
        """


def _ranges(ctx: Ctx, table: str, parts: int) -> list[tuple[str | None, str | None]]:
    """MSISDN ranges of about equal numbers of chained rows (one index-only pass over the chain
    index; the planner's histogram would count the unchained rows too)."""
    cuts = [
        m
        for (m,) in ctx.conn.execute(
            text(
                f"SELECT max(msisdn) FROM (SELECT msisdn, ntile(:parts) OVER (ORDER BY msisdn) AS b FROM {table} "
                "WHERE chain_seq IS NOT NULL) AS s GROUP BY b ORDER BY b"
            ),
            {"parts": parts},
        )
    ][:-1]
    edges: list[str | None] = [None, *sorted(set(cuts)), None]
    return list(itertools.pairwise(edges))


def _check_range(conn: Any, table: str, lo: str | None, hi: str | None, msisdn: str | None) -> list[Any]:
    where, params = "", {}
    if msisdn is not None:
        where, params = "AND msisdn = :m", {"m": msisdn}
    else:
        if lo is not None:
            where += " AND msisdn >= :lo"
            params["lo"] = lo
        if hi is not None:
            where += " AND msisdn < :hi"
            params["hi"] = hi
    model = {"subscription_event": SubscriptionEvent, "mo_message": MoMessage}[table]
    # the window's sort in memory; ISO times (what psycopg requires anyway) for _iso_sql
    conn.execute(text("SET LOCAL work_mem = '64MB'"))
    conn.execute(text("SET LOCAL datestyle = 'ISO, YMD'"))
    stmt = text(_verify_sql(table, where)).columns(*[model.__table__.c[c] for c in CHAINED[table]])
    return list(conn.execute(stmt, params).mappings())


def _verify_pg(ctx: Ctx, table: str, msisdn: str | None, parallel: int | None) -> Verification:
    workers = parallel or min(8, os.cpu_count() or 1)
    if msisdn is not None or workers == 1:
        flagged = _check_range(ctx.conn, table, None, None, msisdn)
    else:
        ranges = _ranges(ctx, table, workers * 2)
        engine = ctx.conn.engine

        def one(r: tuple[str | None, str | None]) -> list[Any]:
            with engine.connect() as conn:
                return _check_range(conn, table, r[0], r[1], None)

        with ThreadPoolExecutor(workers) as pool:
            flagged = [row for part in pool.map(one, ranges) for row in part]
    bad: list[tuple[str, int, str, dict[str, Any]]] = []
    heads: dict[str, list[Any]] = {}
    for r in flagged:
        row = {**r, "chain_hash": bytes(r["chain_hash"])}
        expected = (r["pseq"] or 0) + 1
        if r["chain_seq"] != expected:
            why = "a row is missing before this one" if r["chain_seq"] > expected else "sequence out of order"
        elif r["good"] is not None:
            why = "" if r["good"] else "content or an earlier row was altered"
        else:
            prev = bytes(r["phash"]) if r["phash"] is not None else genesis(table, r["msisdn"])
            why = "" if row_hash(prev, table, row) == row["chain_hash"] else "content or an earlier row was altered"
        if why:
            bad.append((r["msisdn"], r["chain_seq"], why, row))
        if r["head"]:
            heads[f"{table}:{r['msisdn']}"] = [r["chain_seq"], row["chain_hash"].hex()]
    rows = sum(seq for seq, _ in heads.values())
    if bad:
        *_, why, row = min(bad, key=lambda b: (b[0], b[1]))
        return Verification(False, rows, len(heads), bad_row(table, row, why))
    return Verification(True, rows, len(heads), None, dict(sorted(heads.items())))


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
