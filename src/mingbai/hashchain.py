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
statements, not one per row. Verifying the database (text rows streamed into the walk) is
``mingbai.disputes.chain.verify_database``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError

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


@lru_cache(maxsize=1024)
def _iso(value: datetime) -> str:
    """ISO 8601 in UTC. Cached: a batch's rows share their instant (equal instants in any zone
    are equal keys, and have the same UTC text)."""
    utc: datetime = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.isoformat()


def _event_text(m: str, i: str, at: str, kind: str, code: str, o: str, s: str, actor: str, channel: str, d: str) -> str:
    return (
        f"{len(m)}:{m}{len(i)}:{i}{len(at)}:{at}{len(kind)}:{kind}{len(code)}:{code}{len(o)}:{o}{len(s)}:{s}"
        f"{len(actor)}:{actor}{len(channel)}:{channel}{len(d)}:{d}"
    )


def _mo_text(m: str, i: str, rc: str, tx: str, at: str, ha: str) -> str:
    return f"{len(m)}:{m}{len(i)}:{i}{len(rc)}:{rc}{len(tx)}:{tx}{len(at)}:{at}{len(ha)}:{ha}"


def _event_content(r: dict[str, Any]) -> str:
    o, s, d = r["order_id"], r["subscription_id"], r["detail"]
    return _event_text(
        r["msisdn"],
        str(r["id"]),
        _iso(r["at"]),
        r["kind"],
        r["service_code"],
        "" if o is None else str(o),
        "" if s is None else str(s),
        r["actor"],
        r["channel"],
        "" if d is None else canonical_json(d),
    )


def _mo_content(r: dict[str, Any]) -> str:
    return _mo_text(r["msisdn"], str(r["id"]), r["recipient"], r["text"], _iso(r["received_at"]), r["handled_as"] or "")


#: each chained table's canonical content of a row: its fields (CHAINED) in order, each
#: prefixed with its length, so no text can pass for a shift of content between fields
_CONTENT = {"subscription_event": _event_content, "mo_message": _mo_content}


def db_iso(t: str) -> str:
    """A UTC time as the databases print it (PostgreSQL's ``timestamp`` under DateStyle ISO,
    ``2026-04-10 02:00:00`` with a fraction's trailing zeros trimmed) in ``_iso``'s form."""
    return f"{t[:10]}T{t[11:]}+00:00" if len(t) == 19 else f"{t[:10]}T{t[11:]:0<15}+00:00"


def _event_row(r: Sequence[Any], iso: Callable[[str], str]) -> str:
    return _event_text(r[0], r[1], iso(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9])


def _mo_row(r: Sequence[Any], iso: Callable[[str], str]) -> str:
    return _mo_text(r[0], r[1], r[2], r[3], iso(r[4]), r[5])


#: the canonical content of a *text row*: the row's fields (CHAINED) each as its text
_ROW_TEXT = {"subscription_event": _event_row, "mo_message": _mo_row}


def text_row(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """A row as the fast walk (:func:`verify_texts`) reads it: each chained field as its text
    (an event's detail as canonical JSON), then ``chain_seq`` and ``chain_hash``."""
    return (
        *(
            "" if row[c] is None else canonical_json(row[c]) if c == "detail" else field_text(row[c])
            for c in CHAINED[table]
        ),
        row["chain_seq"],
        row["chain_hash"],
    )


def canonical(table: str, row: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers (after the previous row's hash)."""
    return _CONTENT[table](row).encode()


def row_hash(prev: bytes, table: str, row: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev + canonical(table, row)).digest()


# -- the writers' side -------------------------------------------------------------------------


#: one transaction-level advisory lock per subscriber's chains, in MSISDN order
_LOCK = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT hashtextextended('chain:' || m, 0) AS k "
    "FROM unnest(CAST(%(ms)s AS varchar[])) AS m ORDER BY m) AS s"
)


def _heads(ctx: Ctx, table: str, msisdns: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """(seq, hash) of each subscriber's newest chained row, locking the chains on PostgreSQL
    first (SQLite writers hold the database lock already): a transaction-level advisory lock
    per subscriber, in MSISDN order, taken once per transaction (``ctx.chain_locks``) and shared
    by both chained tables, so a transaction that writes events and then MOs (a code reply)
    locks once. It is the last lock a writer takes (after the subscriber, order and subscription
    rows), so it cannot close a cycle with the other locks."""
    if ctx.dialect == "postgresql":
        todo = sorted(set(msisdns) - ctx.chain_locks)
        if ctx.citus:
            if todo:
                ctx.conn.execute(text(_LOCK.replace("%(ms)s", ":ms")), {"ms": todo})
                ctx.chain_locks.update(todo)
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
        heads = f"""
            SELECT k.m, h.chain_seq, h.chain_hash
            FROM unnest(CAST(%(ms)s AS varchar[])) AS k(m)
            JOIN LATERAL (
                SELECT chain_seq, chain_hash FROM {table}
                WHERE msisdn = k.m AND chain_seq IS NOT NULL
                ORDER BY chain_seq DESC LIMIT 1
            ) AS h ON true
            """
        raw = ctx.driver
        try:
            if todo:
                # the lock first, in a statement of its own: under READ COMMITTED the head must
                # be read by a later statement, whose snapshot sees what the lock's last holder
                # committed; both go in one round trip (psycopg's pipeline: the server still
                # runs them one after the other)
                with raw.pipeline():
                    raw.execute(_LOCK, {"ms": todo})
                    cur = raw.execute(heads, {"ms": sorted(msisdns)})
                ctx.chain_locks.update(todo)
            else:
                cur = raw.execute(heads, {"ms": sorted(msisdns)})
            rows = cur.fetchall()
        except psycopg.Error as exc:  # as SQLAlchemy would have raised it (a deadlock, a timeout)
            raise DBAPIError.instance(heads, None, exc, psycopg.Error) from exc
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
        head = heads.get(m)
        seq, prev = head if head is not None else (0, genesis(name, m))
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
    return verify_texts(table, (text_row(table, r) for r in rows))


def verify_texts(
    table: str, rows: Iterable[Sequence[Any]], *, db_time: bool = False, heads: bool = True
) -> Verification:
    """The chain walk over *text rows* (:func:`text_row`) ordered by (msisdn, chain_seq):
    each row's hash recomputed from the one before it, its place in the sequence checked; stops
    at the first bad row. With ``db_time`` the time is as the database prints it (``db_iso``).
    The database verifiers stream rows in this form, so a row costs one f-string and one
    SHA-256 and no typed values are built. Without ``heads`` the chains' newest hashes are not
    kept (a walk of the whole database would hold one per subscriber)."""
    width = len(CHAINED[table])
    at_hash = width + 1
    row_text = _ROW_TEXT[table]
    iso: Callable[[str], str] = db_iso if db_time else str
    sha = hashlib.sha256
    done = 0  # rows in the chains walked to their end
    chains = 0
    current: str | None = None
    prev = b""
    seq = 0
    found: dict[str, list[Any]] = {}
    for r in rows:
        m = r[0]
        if m != current:
            if heads and current is not None:
                found[f"{table}:{current}"] = [seq, prev.hex()]
            done += seq
            current, prev, seq = m, genesis(table, m), 0
            chains += 1
        seq += 1
        if r[width] != seq:
            why = "a row is missing before this one" if r[width] > seq else "sequence out of order"
            return Verification(False, done + seq, chains, _bad_text(table, r, why))
        h = sha(prev + row_text(r, iso).encode()).digest()
        if h != r[at_hash]:
            h = _second_look(table, r, iso, prev)
            if h != r[at_hash]:
                why = "content or an earlier row was altered"
                return Verification(False, done + seq, chains, _bad_text(table, r, why))
        prev = h
    if heads and current is not None:
        found[f"{table}:{current}"] = [seq, prev.hex()]
    return Verification(True, done + seq, chains, None, found if heads else None)


def _second_look(table: str, r: Sequence[Any], iso: Callable[[str], str], prev: bytes) -> bytes:
    """An event detail read back as stored text that is not in canonical form (written before
    JSON columns were, or by hand, or a JSON ``null``) is hashed again from its parsed value."""
    if table != "subscription_event" or not r[9]:
        return b""
    try:
        detail = json.loads(r[9])
    except ValueError:
        return b""
    again = (*r[:9], "" if detail is None else canonical_json(detail))
    return hashlib.sha256(prev + _event_row(again, iso).encode()).digest()


def _bad_text(table: str, r: Sequence[Any], why: str) -> dict[str, Any]:
    width = len(CHAINED[table])
    ident = int(r[1]) if str(r[1]).isdigit() else r[1]
    return {"table": table, "msisdn": r[0], "id": ident, "chain_seq": r[width], "why": why}


def combine(parts: Sequence[Verification]) -> Verification:
    rows = sum(p.rows_checked for p in parts)
    chains = sum(p.chains for p in parts)
    for p in parts:
        if not p.ok:
            return Verification(False, rows, chains, p.first_bad)
    if any(p.heads is None for p in parts):
        return Verification(True, rows, chains)
    heads: dict[str, list[Any]] = {}
    for p in parts:
        heads.update(p.heads or {})
    return Verification(True, rows, chains, None, heads)
