"""Appending to the audit log, verifying it, searching it, and signing checkpoints.

Appends happen in the caller's unit of work: the entry commits with the action it records, and
when the entry cannot be written the action fails with it (fail closed). One append is three
statements: the head row is moved on by ``n`` (which also takes its lock on PostgreSQL and the
write lock on SQLite), the entries go in as one multi-row INSERT, and the head gets the new hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text, update

from mingbai.audit import rules
from mingbai.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from mingbai.db import Ctx, insert_ignore, insert_rows, table_of
from mingbai.errors import InvalidInput
from mingbai.logmask import mask
from mingbai.msisdn import mask_msisdn, normalize_msisdn

_ENTRY = table_of(AuditEntry)
_HEAD = table_of(AuditHead)
_CHECKPOINT = table_of(AuditCheckpoint)


@dataclass(frozen=True)
class Action:
    """What one entry records. ``subject_msisdn`` is stored only as a keyed MAC and a masked
    number; ``subject`` names anything else the action is about (``sp:SP001``, an export)."""

    actor: str
    role: str
    action: str
    subject_msisdn: str | None = None
    subject: str | None = None
    outcome: str = "ok"
    address: str | None = None
    detail: Mapping[str, Any] | None = field(default=None)


#: the actors whose actions are staff actions: Principal.actor's role part (``agent:alice``,
#: ``sp:SP001``) and the terminal's operator (``cli:root``). Subscribers acting for themselves,
#: the scheduler and ``system`` (seeding, tests' fixtures) are not staff.
STAFF_ROLES = frozenset({"agent", "hall", "operator", "supervisor", "security", "auditor", "reviewer", "sp"})

#: where the current request came from, set by the adapter (the web middleware, the CLI), so a
#: use case deep below records it without every signature carrying it
_ADDRESS: ContextVar[str] = ContextVar("mingbai_audit_address", default="")


@contextmanager
def from_address(address: str) -> Iterator[None]:
    """Entries recorded inside carry ``address`` unless they name one."""
    token = _ADDRESS.set(address)
    try:
        yield
    finally:
        _ADDRESS.reset(token)


def use_address(address: str) -> None:
    """Set the address for the rest of this context (a CLI process: ``cli``)."""
    _ADDRESS.set(address)


def staff_role(actor: str | None) -> str | None:
    """The role an actor string acts in, when it is staff; None for subscribers and machines."""
    if not actor:
        return None
    head, sep, _ = actor.partition(":")
    if head == "cli":
        return "operator"
    return head if sep and head in STAFF_ROLES else None


def record_staff(
    ctx: Ctx,
    *,
    actor: str,
    action: str,
    subject_msisdn: str | None = None,
    subject: str | None = None,
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
) -> int | None:
    """Append an entry when ``actor`` is staff (see :func:`staff_role`); its role is read from the
    actor string. None (and nothing written) for a subscriber's or the scheduler's own action."""
    role = staff_role(actor)
    if role is None:
        return None
    return record(
        ctx,
        actor=actor,
        role=role,
        action=action,
        subject_msisdn=subject_msisdn,
        subject=subject,
        outcome=outcome,
        detail=detail,
    )


def subject_key(ctx: Ctx) -> bytes:
    """The MAC key for subject numbers: derived from the platform's secret keys, not stored."""
    return ctx.settings.sealer.mac_key("audit subject")


def record(
    ctx: Ctx,
    *,
    actor: str,
    role: str,
    action: str,
    subject_msisdn: str | None = None,
    subject: str | None = None,
    outcome: str = "ok",
    address: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its ``seq``."""
    return record_many(ctx, [Action(actor, role, action, subject_msisdn, subject, outcome, address, detail)])[0]


def record_many(ctx: Ctx, actions: Sequence[Action]) -> list[int]:
    """Append entries in order in the caller's transaction (group commit: one head update for
    them all); returns their ``seq``s."""
    if not actions:
        return []
    now = ctx.now()
    at_us = rules.epoch_us(now)
    key = subject_key(ctx)
    # everything but the place in the chain is prepared before the head's lock is taken, so
    # concurrent appenders hold it only for the hashing and the writes
    prepared = [_entry(0, at_us, act, key) for act in actions]
    tails = [e.tail() for e in prepared]
    conn = ctx.conn
    move = (
        update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + len(actions)).returning(_HEAD.c.seq, _HEAD.c.hash)
    )
    row = conn.execute(move).first()
    if row is None:
        # no head (a fresh or emptied database): start the chain. Were entries left without their
        # head, the new chain's seq 1 would collide with the old one and the append would fail.
        insert_ignore(conn, _HEAD, [{"id": 1, "seq": 0, "hash": rules.GENESIS}])
        row = conn.execute(move).one()
    first = int(row[0]) - len(actions) + 1
    prev = str(row[1])
    out: list[dict[str, Any]] = []
    chain_hash = rules.chain_hash_tail
    for i, entry in enumerate(prepared):
        seq = first + i
        prev = chain_hash(prev, seq, tails[i])
        out.append(
            {
                "seq": seq,
                "at": now,
                "actor": entry.actor,
                "role": entry.role,
                "action": entry.action,
                "subject_mac": entry.subject_mac,
                "subject": entry.subject,
                "address": entry.address,
                "outcome": entry.outcome,
                "detail": entry.detail,
                "hash": prev,
            }
        )
    insert_rows(conn, _ENTRY, out)
    conn.execute(update(_HEAD).where(_HEAD.c.id == 1).values(hash=prev))
    return [r["seq"] for r in out]


#: only a text with a run of four digits can hold what logmask.mask hides (a number, a code)
_MAYBE_SECRET = re.compile(r"\d{4}")


def _masked(text: str) -> str:
    return mask(text) if _MAYBE_SECRET.search(text) else text


def _number(raw: str) -> str:
    """The 11-digit number (the common case checked without normalize_msisdn's regexes)."""
    if len(raw) == 11 and raw.isdigit() and raw[0] == "1" and raw[1] in "3456789":
        return raw
    return normalize_msisdn(raw)


def _entry(seq: int, at_us: int, act: Action, key: bytes) -> rules.Entry:
    if act.outcome not in rules.OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(rules.OUTCOMES)}")
    mac = ""
    subject = rules.clean(_masked(act.subject), "subject", 80) if act.subject else ""
    if act.subject_msisdn:
        number = _number(act.subject_msisdn)
        mac = rules.subject_mac(key, number)
        subject = subject or mask_msisdn(number)
    detail = rules.detail_json(act.detail)
    return rules.Entry(
        seq=seq,
        at_us=at_us,
        actor=rules.clean(act.actor, "actor", 80),
        role=rules.clean(act.role, "role", 24),
        action=rules.clean(act.action, "action", 48),
        subject_mac=mac,
        subject=subject,
        address=rules.clean(act.address or _ADDRESS.get(), "address", 64),
        outcome=act.outcome,
        detail=_masked(detail) if detail else "",
    )


# -- verify ----------------------------------------------------------------------------------------


_COLUMNS = (
    _ENTRY.c.seq,
    _ENTRY.c.at,
    _ENTRY.c.actor,
    _ENTRY.c.role,
    _ENTRY.c.action,
    _ENTRY.c.subject_mac,
    _ENTRY.c.subject,
    _ENTRY.c.address,
    _ENTRY.c.outcome,
    _ENTRY.c.detail,
    _ENTRY.c.hash,
)


_NAIVE_EPOCH = datetime(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)


def _rows(ctx: Ctx, batch: int = 20_000) -> Iterator[tuple[Any, ...]]:
    if ctx.dialect == "sqlite":
        yield from _sqlite_rows(ctx, batch)
        return
    conn = ctx.conn.execution_options(stream_results=True, yield_per=batch)
    epoch_us = rules.epoch_us
    for part in conn.execute(select(*_COLUMNS).order_by(_ENTRY.c.seq)).partitions():
        for r in part:
            yield (r[0], epoch_us(r[1]), *r[2:])


def _sqlite_rows(ctx: Ctx, batch: int) -> Iterator[tuple[Any, ...]]:
    """The same rows straight from sqlite3, the instant parsed from the stored naive UTC text
    (what db.UtcDateTime writes): the walk is the only verifier on SQLite, and SQLAlchemy's
    per-row result processing was most of its time."""
    cur = ctx.driver.execute(
        "SELECT seq, at, actor, role, action, subject_mac, subject, address, outcome, detail, hash "
        "FROM audit_entry ORDER BY seq"
    )
    parse, epoch, us = datetime.fromisoformat, _NAIVE_EPOCH, _ONE_US
    while part := cur.fetchmany(batch):
        for r in part:
            yield (r[0], (parse(r[1]) - epoch) // us, *r[2:])


@dataclass(frozen=True)
class Report:
    ok: bool
    entries: int
    first_bad: int | None
    reason: str
    head: str
    checkpoints: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "reason": self.reason,
            "head": self.head,
            "checkpoints": self.checkpoints,
        }


#: one entry's check in SQL: its hash rebuilt from the previous entry's *stored* hash and its own
#: fields exactly as rules.Entry.canonical joins them (epoch microseconds, the unit separator)
_SQL_CHECK = """
SELECT min(CASE WHEN seq <> prev_seq + 1 THEN least(seq, prev_seq + 1) END) AS first_gap,
       min(CASE WHEN encode(sha256(convert_to(
               prev || seq::text || chr(31) || (extract(epoch FROM at) * 1000000)::bigint::text
               || chr(31) || actor || chr(31) || role || chr(31) || action || chr(31) || subject_mac
               || chr(31) || subject || chr(31) || address || chr(31) || outcome || chr(31) || detail,
               'UTF8')), 'hex') <> hash THEN seq END) AS first_changed,
       count(*) AS n
FROM (
    SELECT seq, at, actor, role, action, subject_mac, subject, address, outcome, detail, hash,
           lag(hash, 1, :genesis) OVER w AS prev, lag(seq, 1, :before) OVER w AS prev_seq
    FROM audit_entry WHERE seq >= :before AND seq <= :hi
    WINDOW w AS (ORDER BY seq)
) chained
WHERE seq > :before
"""

#: entries per parallel range of the SQL check
_SQL_RANGE = 250_000


def _sql_verifiable(ctx: Ctx) -> bool:
    """Whether this database checks the chain itself: PostgreSQL in UTF-8, not Citus (the
    Python walk is the reference; tests hold the two to the same verdicts)."""
    if ctx.dialect != "postgresql" or ctx.citus:
        return False
    return ctx.conn.exec_driver_sql("SHOW server_encoding").scalar() == "UTF8"


def _verify_sql(ctx: Ctx, *, workers: int = 4) -> rules.Verdict:
    """The chain checked by PostgreSQL, set-based: every entry against the stored hash before it,
    so ranges of ``seq`` are independent and run on parallel connections that share this
    transaction's snapshot (what they see is what this transaction sees)."""
    last = int(ctx.conn.execute(select(func.coalesce(func.max(_ENTRY.c.seq), 0))).scalar() or 0)
    if last == 0:
        return rules.Verdict(True, 0)
    ranges = [(lo, min(lo + _SQL_RANGE - 1, last)) for lo in range(1, last + 1, _SQL_RANGE)]

    def check(conn: Connection, lo: int, hi: int) -> tuple[int | None, int | None, int]:
        prev = rules.GENESIS if lo == 1 else conn.execute(select(_ENTRY.c.hash).where(_ENTRY.c.seq == lo - 1)).scalar()
        if prev is None:  # the entry before the range is gone: the range starts with a gap
            prev = ""
        r = conn.execute(text(_SQL_CHECK), {"genesis": prev, "before": lo - 1, "hi": hi}).one()
        return r.first_gap, r.first_changed, int(r.n)

    results: list[tuple[int | None, int | None, int]]
    if len(ranges) == 1 or workers <= 1:
        results = [check(ctx.conn, lo, hi) for lo, hi in ranges]
    else:
        snapshot = ctx.conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
        engine = ctx.session.get_bind()

        def in_snapshot(span: tuple[int, int]) -> tuple[int | None, int | None, int]:
            with engine.connect() as conn:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ")
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                try:
                    return check(conn, *span)
                finally:
                    conn.rollback()

        with ThreadPoolExecutor(max_workers=min(workers, len(ranges))) as pool:
            results = list(pool.map(in_snapshot, ranges))
    seen = 0
    for (lo, hi), (gap, changed, n) in zip(ranges, results, strict=True):
        bad = min((x for x in (gap, changed) if x is not None), default=None)
        if bad is None and n != hi - lo + 1:
            bad = lo + n  # entries missing at the range's end
        if bad is not None:
            why = "missing, inserted or out of order" if bad == gap or changed is None else "changed"
            return rules.Verdict(False, seen + max(0, bad - lo), bad, f"entry {bad}: {why}")
        seen += n
    head = ctx.conn.execute(select(_ENTRY.c.hash).where(_ENTRY.c.seq == last)).scalar()
    return rules.Verdict(True, seen, None, "", str(head))


def verify(ctx: Ctx, *, external: Sequence[rules.Checkpoint] = (), in_sql: bool | None = None) -> Report:
    """Check the whole chain (on PostgreSQL set-based in SQL, elsewhere by walking it in
    Python; ``in_sql`` forces either); then check the head row and every checkpoint — the
    database's own and any an auditor kept (``external``) — against it."""
    use_sql = _sql_verifiable(ctx) if in_sql is None else in_sql
    verdict = _verify_sql(ctx) if use_sql else rules.verify_rows(_rows(ctx))
    if not verdict.ok:
        return Report(False, verdict.entries, verdict.first_bad, verdict.reason, verdict.head, 0)
    count = verdict.entries
    row = ctx.conn.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first()
    head_seq, head_hash = (int(row[0]), str(row[1])) if row is not None else (0, rules.GENESIS)  # None: never written
    if head_seq != count or head_hash != verdict.head:
        return Report(False, count, count + 1, "the chain's head row does not match its last entry", verdict.head, 0)
    stored = [
        rules.Checkpoint(int(r.seq), r.hash, r.at, r.public_key, r.signature)
        for r in ctx.conn.execute(select(_CHECKPOINT).order_by(_CHECKPOINT.c.seq))
    ]
    trusted = checkpoint_public_key(ctx)
    for cp in [*stored, *external]:
        if not cp.signature_ok(trusted):
            return Report(
                False, count, cp.seq, f"checkpoint at {cp.seq} is not signed by this platform's key", verdict.head, 0
            )
        if cp.seq > count:
            return Report(
                False, count, count + 1, f"a checkpoint names {cp.seq} entries; {count} are left", verdict.head, 0
            )
        if cp.seq > 0 and _hash_at(ctx, cp.seq) != cp.hash:
            return Report(False, count, cp.seq, f"entry {cp.seq} is not the one the checkpoint signed", verdict.head, 0)
    return Report(True, count, None, "", verdict.head, len(stored) + len(external))


def _hash_at(ctx: Ctx, seq: int) -> str | None:
    return ctx.conn.execute(select(_ENTRY.c.hash).where(_ENTRY.c.seq == seq)).scalar()


# -- checkpoints -------------------------------------------------------------------------------------


def _signing_key(ctx: Ctx) -> Any:
    return rules.signing_key(ctx.settings.sealer.mac_key("audit checkpoint"))


def checkpoint_public_key(ctx: Ctx) -> str:
    return rules.public_key_text(_signing_key(ctx))


def checkpoint(ctx: Ctx) -> rules.Checkpoint:
    """Sign the chain's head as it is now and keep the checkpoint (once per head)."""
    row = ctx.conn.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first() or (0, rules.GENESIS)
    cp = rules.sign_checkpoint(_signing_key(ctx), int(row[0]), str(row[1]), ctx.now())
    exists = ctx.conn.execute(select(_CHECKPOINT.c.seq).where(_CHECKPOINT.c.seq == cp.seq)).first()
    if exists is None:
        ctx.conn.execute(
            _CHECKPOINT.insert(),
            {"seq": cp.seq, "hash": cp.hash, "at": cp.at, "public_key": cp.public_key, "signature": cp.signature},
        )
    return cp


def checkpoint_due(ctx: Ctx, *, every_minutes: int, every_entries: int) -> rules.Checkpoint | None:
    """The scheduler's pass: sign the head when it moved on since the last checkpoint and either
    ``every_entries`` entries were appended or ``every_minutes`` went by since then (0 turns that
    trigger off). Nothing when the chain did not move: a checkpoint names each head once."""
    head = ctx.conn.execute(select(_HEAD.c.seq).where(_HEAD.c.id == 1)).scalar()
    if not head:
        return None
    last = ctx.conn.execute(
        select(_CHECKPOINT.c.seq, _CHECKPOINT.c.at).order_by(_CHECKPOINT.c.seq.desc()).limit(1)
    ).first()
    if last is not None and int(last.seq) >= int(head):
        return None
    since_seq = 0 if last is None else int(last.seq)
    first = select(_ENTRY.c.at).where(_ENTRY.c.seq == 1)
    started = ctx.conn.execute(first).scalar() if last is None else last.at
    by_count = every_entries > 0 and int(head) - since_seq >= every_entries
    by_time = every_minutes > 0 and (started is None or ctx.now() - started >= timedelta(minutes=every_minutes))
    return checkpoint(ctx) if by_count or by_time else None


# -- search ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    subject: str
    address: str
    outcome: str
    detail: str


def search(
    ctx: Ctx,
    *,
    msisdn: str | None = None,
    staff: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[Found]:
    """Entries about a number (found by its MAC), by a staff member (``alice`` or ``agent:alice``),
    of an action (a prefix: ``vault.``), in a time window; newest first."""
    stmt = select(*_COLUMNS[:-1]).order_by(_ENTRY.c.seq.desc()).limit(max(1, min(limit, 10_000)))
    if msisdn:
        stmt = stmt.where(_ENTRY.c.subject_mac == rules.subject_mac(subject_key(ctx), normalize_msisdn(msisdn)))
    if staff:
        stmt = stmt.where(
            _ENTRY.c.actor == staff if ":" in staff else _ENTRY.c.actor.like(f"%:{_like(staff)}", escape="\\")
        )
    if action:
        stmt = stmt.where(_ENTRY.c.action.like(_like(action) + "%", escape="\\"))
    if since:
        stmt = stmt.where(_ENTRY.c.at >= since)
    if until:
        stmt = stmt.where(_ENTRY.c.at < until)
    return [
        Found(r.seq, r.at, r.actor, r.role, r.action, r.subject, r.address, r.outcome, r.detail)
        for r in ctx.conn.execute(stmt)
    ]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
