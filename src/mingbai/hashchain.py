"""Tamper evidence for the consent records (R8): a hash chain per subscriber over the
subscription events and over the MOs. Plumbing below the subscription core and messaging (their
one writers call :func:`link`); reading the chains back from the tables and the exported
bundles live in ``mingbai.disputes.chain``.

Each row carries ``chain_seq`` (1, 2, … per subscriber and table) and ``chain_hash`` =
SHA-256(previous hash ‖ the row's canonical content); the first row's previous hash is
SHA-256 of the table and the MSISDN. Changing any field of a row, removing a row or inserting
one breaks the chain from there on, and the verifier names the first bad row. An exported bundle
carries the rows with their hashes, so anyone can verify it without the database; the export
also records each chain's head, so removing the newest rows from the database is caught by
verifying the database against a bundle exported earlier (``chain heads`` in the bundle).

The writers (``subscriptions.service.record_events``, ``messaging.service.record_mos``) call
:func:`link` on the rows they are about to insert: one statement per table and batch reads the
chains' heads (under a per-subscriber advisory lock on PostgreSQL, taken once per transaction,
so two transactions never extend a chain from the same head), then the hashes are computed in
memory. Batch paths stay set-based: a wave of many subscribers costs one or two extra
statements, not one per row. Verifying the database set-based in SQL is
``mingbai.disputes.chain.verify_database``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, text

from mingbai.db import Ctx, canonical_json, shard_groups

#: the chained tables and, in order, the columns their canonical content covers
CHAINED: dict[str, tuple[str, ...]] = {
    "subscription_event": (
        "msisdn",
        "id",
        "at",
        "kind",
        "service_code",
        "order_id",
        "subscription_id",
        "actor",
        "channel",
        "detail",
    ),
    "mo_message": ("msisdn", "id", "recipient", "text", "received_at", "handled_as"),
}


def genesis(table: str, msisdn: str) -> bytes:
    return hashlib.sha256(f"mingbai:{table}:{msisdn}".encode()).digest()


def field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return canonical_json(value)
    return str(value)


def _iso(value: datetime) -> str:
    utc: datetime = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.isoformat()


def _event_content(r: dict[str, Any]) -> str:
    m, at, kind, code, actor, channel = (
        r["msisdn"],
        _iso(r["at"]),
        r["kind"],
        r["service_code"],
        r["actor"],
        r["channel"],
    )
    i, o, s = str(r["id"]), r["order_id"], r["subscription_id"]
    o = "" if o is None else str(o)
    s = "" if s is None else str(s)
    d = r["detail"]
    d = "" if d is None else canonical_json(d)
    return (
        f"{len(m)}:{m}{len(i)}:{i}{len(at)}:{at}{len(kind)}:{kind}{len(code)}:{code}{len(o)}:{o}{len(s)}:{s}"
        f"{len(actor)}:{actor}{len(channel)}:{channel}{len(d)}:{d}"
    )


def _mo_content(r: dict[str, Any]) -> str:
    m, rc, tx, at, ha = r["msisdn"], r["recipient"], r["text"], _iso(r["received_at"]), r["handled_as"] or ""
    i = str(r["id"])
    return f"{len(m)}:{m}{len(i)}:{i}{len(rc)}:{rc}{len(tx)}:{tx}{len(at)}:{at}{len(ha)}:{ha}"


#: each chained table's canonical content of a row: its fields (CHAINED) in order, each
#: prefixed with its length, so no text can pass for a shift of content between fields
_CONTENT = {"subscription_event": _event_content, "mo_message": _mo_content}


def canonical(table: str, row: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers (after the previous row's hash)."""
    return _CONTENT[table](row).encode()


def row_hash(prev: bytes, table: str, row: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev + canonical(table, row)).digest()


# -- the writers' side -------------------------------------------------------------------------


def _heads(ctx: Ctx, table: str, msisdns: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """(seq, hash) of each subscriber's newest chained row, locking the chains on PostgreSQL
    first (SQLite writers hold the database lock already): a transaction-level advisory lock
    per subscriber, in MSISDN order, taken once per transaction (``ctx.chain_locks``) and shared
    by both chained tables, so a transaction that writes events and then MOs (a code reply)
    locks once. It is the last lock a writer takes (after the subscriber, order and subscription
    rows), so it cannot close a cycle with the other locks."""
    if ctx.dialect == "postgresql":
        todo = sorted(set(msisdns) - ctx.chain_locks)
        if todo:
            # the lock first, in a statement of its own: under READ COMMITTED the head must be
            # read by a later statement, whose snapshot sees what the lock's last holder committed
            ctx.conn.execute(
                text(
                    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT hashtextextended('chain:' || m, 0) AS k "
                    "FROM unnest(CAST(:ms AS varchar[])) AS m ORDER BY m) AS s"
                ),
                {"ms": todo},
            )
            ctx.chain_locks.update(todo)
        if ctx.citus:
            # Citus cannot push a LATERAL … LIMIT down to the shards; DISTINCT ON the distribution
            # column can, and one statement per shard group is a single-shard router query
            found: list[Any] = []
            for group in shard_groups(ctx, table, sorted(msisdns)):
                found += ctx.conn.execute(
                    text(
                        f"SELECT DISTINCT ON (msisdn) msisdn, chain_seq, chain_hash FROM {table} "
                        "WHERE msisdn = ANY(CAST(:ms AS varchar[])) AND chain_seq IS NOT NULL "
                        "ORDER BY msisdn, chain_seq DESC"
                    ),
                    {"ms": group},
                ).all()
            return {m: (int(seq), bytes(h)) for m, seq, h in found if seq is not None}
        rows = ctx.conn.execute(
            text(
                f"""
                SELECT k.m, h.chain_seq, h.chain_hash
                FROM unnest(CAST(:ms AS varchar[])) AS k(m)
                JOIN LATERAL (
                    SELECT chain_seq, chain_hash FROM {table}
                    WHERE msisdn = k.m AND chain_seq IS NOT NULL
                    ORDER BY chain_seq DESC LIMIT 1
                ) AS h ON true
                """
            ),
            {"ms": sorted(msisdns)},
        ).all()
    else:
        rows = ctx.conn.execute(
            text(
                f"""
                SELECT t.msisdn, t.chain_seq, t.chain_hash FROM {table} AS t
                JOIN (SELECT msisdn, max(chain_seq) AS seq FROM {table}
                      WHERE msisdn IN (SELECT value FROM json_each(:ms)) GROUP BY msisdn) AS h
                  ON t.msisdn = h.msisdn AND t.chain_seq = h.seq
                """
            ),
            {"ms": json.dumps(sorted(msisdns))},
        ).all()
    return {m: (int(seq), bytes(h)) for m, seq, h in rows if seq is not None}


def link(ctx: Ctx, table: Table | str, rows: list[dict[str, Any]]) -> None:
    """Give each row (in list order, per subscriber) its ``chain_seq`` and ``chain_hash``."""
    name = table if isinstance(table, str) else table.name
    if not rows:
        return
    heads = _heads(ctx, name, sorted({r["msisdn"] for r in rows}))
    for r in rows:
        m = r["msisdn"]
        seq, prev = heads.get(m, (0, genesis(name, m)))
        h = row_hash(prev, name, r)
        r["chain_seq"] = seq + 1
        r["chain_hash"] = h
        heads[m] = (seq + 1, h)


# -- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows_checked: int
    chains: int
    #: the first row whose hash does not follow: table, msisdn, id, seq and why
    first_bad: dict[str, Any] | None = None
    #: (table, msisdn) → [seq, hash hex] of each chain's newest row
    heads: dict[str, list[Any]] | None = None


def verify_rows(table: str, rows: Iterable[dict[str, Any]]) -> Verification:
    """Rows of one table ordered by (msisdn, chain_seq), each with ``chain_seq`` and
    ``chain_hash`` (bytes). Stops at the first bad row."""
    n = 0
    chains = 0
    current: str | None = None
    prev = b""
    seq = 0
    heads: dict[str, list[Any]] = {}
    content = _CONTENT[table]
    sha = hashlib.sha256
    for r in rows:
        m = r["msisdn"]
        if m != current:
            if current is not None:
                heads[f"{table}:{current}"] = [seq, prev.hex()]
            current, prev, seq = m, genesis(table, m), 0
            chains += 1
        n += 1
        seq += 1
        if r["chain_seq"] != seq:
            why = "a row is missing before this one" if r["chain_seq"] > seq else "sequence out of order"
            return Verification(False, n, chains, bad_row(table, r, why))
        prev = sha(prev + content(r).encode()).digest()
        if prev != r["chain_hash"]:
            return Verification(False, n, chains, bad_row(table, r, "content or an earlier row was altered"))
    if current is not None:
        heads[f"{table}:{current}"] = [seq, prev.hex()]
    return Verification(True, n, chains, None, heads)


def bad_row(table: str, r: dict[str, Any], why: str) -> dict[str, Any]:
    return {"table": table, "msisdn": r["msisdn"], "id": r["id"], "chain_seq": r["chain_seq"], "why": why}


def combine(parts: Sequence[Verification]) -> Verification:
    rows = sum(p.rows_checked for p in parts)
    chains = sum(p.chains for p in parts)
    for p in parts:
        if not p.ok:
            return Verification(False, rows, chains, p.first_bad)
    heads: dict[str, list[Any]] = {}
    for p in parts:
        heads.update(p.heads or {})
    return Verification(True, rows, chains, None, heads)
