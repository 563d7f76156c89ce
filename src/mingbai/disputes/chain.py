"""The consent records' hash chains read back (R8): verifying the database, exporting a
self-contained bundle and verifying one. The chain itself (hashing, linking, verifying rows) is
``mingbai.hashchain``, below the writers that call it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

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


def verify_database(ctx: Ctx, *, msisdn: str | None = None) -> Verification:
    """Every chain in the database (or one subscriber's)."""
    m = normalize_msisdn(msisdn) if msisdn else None
    return combine([verify_rows(t, _stream(ctx, t, m)) for t in CHAINED])


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
