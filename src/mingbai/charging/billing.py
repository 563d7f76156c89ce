"""The monthly billing run (R6): raise every month's fee that is due, once, with a deduction
reminder for each.

Shape: set-based SQL over the subscription table in chunks of MSISDN ranges, one transaction
per chunk holding (1) ``INSERT INTO charge … SELECT`` of the range's fees not yet raised, (2)
``INSERT INTO sms_outbox … SELECT`` of one reminder for each charge that (1) inserted, and (3) the
run's counters; the summary by skip reason is one aggregate at the end. A kill at any instant
loses at most the open chunk (its charges and reminders together); a rerun inserts nothing that
exists, because ``uq_charge_once`` (msisdn, subscription, period, '') makes a fee a uniqueness
rule, and a reminder is written only in the transaction that inserted its charge. One run per
period at a time (an advisory lock on PostgreSQL), so the insert can be a plain one; a unique
violation from any other writer makes the chunk roll back and be redone with ON CONFLICT DO NOTHING.

What the scheduler does with it (the run once the month has begun, and the catch-up pass for
re-orders confirmed during the month) is :mod:`mingbai.charging.schedule`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Connection, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import Date

from mingbai.audit import service as audit
from mingbai.catalog.rules import yuan_sql
from mingbai.charging import texts
from mingbai.charging.models import BillingRun, BillingWatermark
from mingbai.charging.rules import Period, SkipReason, charge_upper_bound, parse_billing_period, reminder_due_at
from mingbai.config import Settings
from mingbai.db import Ctx, Database, PlatformLike, UtcDateTime, is_citus, upsert
from mingbai.errors import Conflict, InvalidInput
from mingbai.ids import new_id, reserve_ids
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.models import OutboundSms
from mingbai.msisdn import mask_msisdn

log = logging.getLogger(__name__)

#: subscriptions per chunk: a kill loses at most this much uncommitted work
DEFAULT_CHUNK = 50_000
#: past the highest MSISDN (15 digits, the column's width)
_TOP = "9" * 15


# -- SQL -------------------------------------------------------------------------------------

#: the WHERE that :func:`mingbai.charging.rules.monthly_skip_reason` returns None for
_DUE = """s.billing = 'monthly'
  AND s.confirmed_at < :upper
  AND (s.unsubscribed_at IS NULL OR s.unsubscribed_at >= :p_start)
  AND s.first_charge_on < :next_first_day
  AND s.price_fen > 0"""

#: the same rule as a CASE, first reason wins, in the order of ``monthly_skip_reason``
_REASON = f"""CASE
  WHEN s.billing <> 'monthly' THEN '{SkipReason.NOT_MONTHLY}'
  WHEN s.confirmed_at >= :upper THEN '{SkipReason.ORDERED_AFTER}'
  WHEN s.unsubscribed_at IS NOT NULL AND s.unsubscribed_at < :p_start THEN '{SkipReason.UNSUBSCRIBED_BEFORE}'
  WHEN s.first_charge_on IS NULL OR s.first_charge_on >= :next_first_day THEN '{SkipReason.IN_TRIAL}'
  WHEN s.price_fen <= 0 THEN '{SkipReason.FREE}'
  ELSE '' END"""

_RANGE_S = "s.msisdn > :lo AND s.msisdn <= :hi"
_RANGE_C = "c.msisdn > :lo AND c.msisdn <= :hi"

#: the run's summary: every subscription by reason, in one pass at the end (a parallel scan on
#: PostgreSQL) rather than once per chunk
_COUNT_ALL = f"SELECT {_REASON} AS reason, count(*) AS n FROM subscription s GROUP BY 1"

#: Ids are numbered per subscriber (PARTITION BY msisdn): an id is unique within its MSISDN, which
#: is all the key (msisdn, id) asks (mingbai.ids), and the statement then stays on each shard on
#: Citus (a window over the whole chunk would pull every row through the coordinator; docs/citus.md).
#: Who pays is a column of the subscription (``payer_msisdn``: the gifter who confirmed paying, NULL
#: when the subscriber pays): the fee is the payer's (``charge.msisdn``), naming a gift's recipient;
#: so ids are numbered per payer ({partition}), which is ``s.msisdn`` where only self-paid rows are read
_CHARGE_TEMPLATE = """INSERT INTO charge (msisdn, id, subscription_id, service_code, sp_code, kind, period, usage_ref,
                    amount_fen, quantity, batch_id, created_at, occurred_at, recipient_msisdn)
SELECT COALESCE(s.payer_msisdn, s.msisdn), :base_id + row_number() OVER (PARTITION BY {partition} ORDER BY s.id),
       s.id, s.service_code, s.sp_code, 'monthly', CAST(:period AS VARCHAR(7)), '', s.price_fen, 1, :batch_id, :now,
       CASE WHEN s.confirmed_at > :p_start THEN s.confirmed_at ELSE :p_start END,
       CASE WHEN s.payer_msisdn IS NULL THEN NULL ELSE s.msisdn END
FROM subscription s"""
_CHARGE_COLUMNS = _CHARGE_TEMPLATE.replace("{partition}", "COALESCE(s.payer_msisdn, s.msisdn)")
_CHARGE_SELF_PAID = _CHARGE_TEMPLATE.replace("{partition}", "s.msisdn")

#: the safe form: whatever else inserts the same fee at the same moment, this one skips it
CHARGE_SAFE = f"""{_CHARGE_COLUMNS}
WHERE {{where}} AND {_DUE}
ON CONFLICT (msisdn, subscription_id, period, usage_ref) DO NOTHING
"""

#: a chunk's gifts (few: the partial index ``ix_subscription_gift``): their fees are their gifters',
#: whose MSISDNs lie outside the chunk's range, so they are charged in the safe form and reminded
#: from what the insert returns
CHARGE_GIFTS = (
    CHARGE_SAFE.format(where=f"{_RANGE_S} AND s.payer_msisdn IS NOT NULL")
    + "RETURNING msisdn, id, service_code, sp_code, amount_fen, recipient_msisdn"
)

#: the fast form, for a run that holds the period's lock: "charged already?" is answered from the
#: chunk's own range of the charge table (a hash anti-join on PostgreSQL, an index probe per row
#: on SQLite) and the insert is a plain one. ON CONFLICT's speculative insertion costs about 40%
#: more per row on PostgreSQL 15 (docs/PERFORMANCE.md). The unique index still refuses a second
#: fee: were another writer to slip in, the chunk fails and is redone in the safe form.
_CHARGE_FAST = f"""{_CHARGE_SELF_PAID}
WHERE {{where}} AND {_DUE} AND s.payer_msisdn IS NULL
  AND NOT EXISTS (SELECT 1 FROM charge c WHERE c.msisdn = s.msisdn AND c.subscription_id = s.id
                  AND c.period = CAST(:period AS VARCHAR(7)) AND c.usage_ref = ''
                  AND c.msisdn > :lo AND c.msisdn <= :hi)
"""

#: fen → "5", "2.5", "0.05" exactly as :func:`mingbai.catalog.rules.yuan` says it, in portable SQL
_YUAN = yuan_sql("c.amount_fen")

# A plain INSERT: the charges read here were inserted by this transaction (batch_id), so their
# reminders cannot exist yet. The reminder's outbox id is its charge's id (reminder N is the one
# about charge N), so the primary key (msisdn, id) would refuse a second one anyway: that is the
# send-once rule of deduction reminders, and they need no dedupe key (migration 0503).
# The words before and after the amount are the same for every charge of a service: they are
# put together once per statement (``words``), not once per row (-25% of the SELECT's time).
# The WITH belongs to the SELECT, so the statement begins with INSERT: Python's sqlite3 gives a
# row count only for statements that do.
_REMIND = f"""
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, status, created_at, due_at)
WITH words AS MATERIALIZED (
  SELECT svc.code, :t_a || p.name || svc.name || :t_b AS head, :t_c || svc.code || :t_d AS tail
  FROM service svc JOIN sp p ON p.code = svc.sp_code
)
SELECT c.msisdn, c.id, :sender, w.head || {_YUAN} || w.tail, :reminder_kind, 'concat', 'queued', :now, :due
FROM charge c
JOIN words w ON w.code = c.service_code
WHERE {_RANGE_C} AND c.batch_id = :batch_id AND c.recipient_msisdn IS NULL
"""

#: On Citus the words are joined in place: a materialized CTE becomes an intermediate result on
#: the coordinator, and the INSERT … SELECT around it is then repartitioned through the coordinator
#: instead of running on each shard (service and sp are reference tables, present on every node).
_REMIND_CITUS = _REMIND.replace("AS MATERIALIZED", "AS NOT MATERIALIZED")

#: in one statement, so a chunk costs one round trip for them
_CHUNK_SETTINGS = """SELECT set_config('enable_seqscan', 'off', true), set_config('enable_nestloop', 'off', true),
       set_config('plan_cache_mode', 'force_custom_plan', true), set_config('synchronous_commit', 'off', true)"""

_PROGRESS = """
UPDATE billing_run SET
  charged = charged + :charged, reminders = reminders + :reminders,
  amount_fen = amount_fen + (SELECT coalesce(sum(c.amount_fen), 0) FROM charge c
                             WHERE c.msisdn > :lo AND c.msisdn <= :hi AND c.batch_id = :batch_id
                               AND c.recipient_msisdn IS NULL) + :gift_fen,
  chunks_done = chunks_done + 1,
  last_msisdn = CASE WHEN last_msisdn IS NULL OR last_msisdn < :last THEN :last ELSE last_msisdn END
WHERE id = :batch_id
"""

_PROGRESS_EMPTY = """
UPDATE billing_run SET chunks_done = chunks_done + 1,
  last_msisdn = CASE WHEN last_msisdn IS NULL OR last_msisdn < :last THEN :last ELSE last_msisdn END
WHERE id = :batch_id
"""


#: where the next chunk ends (single-node PostgreSQL and SQLite)
_BOUND = "SELECT msisdn FROM subscription WHERE msisdn > :lo ORDER BY msisdn LIMIT 1 OFFSET :n"

#: the same on Citus, found on the workers: each worker gets one statement (a connection per worker
#: rather than per shard) that asks each of its shards of subscription for its q-th MSISDN after
#: ``:lo`` and returns the least; see ``_next_bound_on_shards``. ``master_run_on_worker`` is what
#: Citus' ``run_command_on_shards`` runs on, with a command per worker instead of per shard.
_BOUND_CITUS = """
WITH q AS (
  SELECT greatest(1, CAST(:chunk AS bigint) / count(*)) - 1 AS skip
  FROM pg_dist_shard WHERE logicalrelid = CAST('subscription' AS regclass)
), per_node AS (
  SELECT p.nodename, p.nodeport,
         'SELECT min(m) FROM ('
           || string_agg(format('(SELECT msisdn FROM %s WHERE msisdn > %L ORDER BY msisdn LIMIT 1 OFFSET %s)',
                                shard_name(s.logicalrelid, s.shardid), CAST(:lo AS text), q.skip), ' UNION ALL ')
           || ') x(m)' AS command
  FROM pg_dist_shard s JOIN pg_dist_shard_placement p ON p.shardid = s.shardid CROSS JOIN q
  WHERE s.logicalrelid = CAST('subscription' AS regclass) AND p.shardstate = 1
  GROUP BY p.nodename, p.nodeport
)
SELECT min(NULLIF(r.result, '')), count(*) FILTER (WHERE NOT r.success), min(r.result) FILTER (WHERE NOT r.success)
FROM (SELECT array_agg(nodename) AS nodes, array_agg(nodeport) AS ports, array_agg(command) AS commands
      FROM per_node) w,
     master_run_on_worker(w.nodes, w.ports, w.commands, true) r
"""


def _sql(statement: str, *extra: Any) -> Any:
    """The statement with its instants typed: a bare datetime parameter would reach SQLite as
    ``str(datetime)`` ("… 16:00:00+00:00"), which does not sort with the stored form ("….000000")
    and put a fee raised at exactly 00:00 on the 1st into the month before (issue 13)."""
    return text(statement).bindparams(
        bindparam("upper", type_=UtcDateTime),
        bindparam("p_start", type_=UtcDateTime),
        bindparam("next_first_day", type_=Date),
        *extra,
    )


def timed_sql(statement: str) -> Any:
    return _sql(statement, bindparam("now", type_=UtcDateTime))


# -- results ---------------------------------------------------------------------------------


#: a full run, or the catch-up for subscriptions that became due after it
RunMode = Literal["full", "catchup"]


@dataclass(frozen=True)
class RunSummary:
    """A run's figures as recorded in ``billing_run``."""

    run_id: int
    period: str
    mode: RunMode
    status: str
    actor: str
    started_at: datetime
    finished_at: datetime | None
    seen: int
    charged: int
    amount_fen: int
    reminders: int
    skipped: dict[str, int]
    chunks: int
    last_msisdn: str | None

    @property
    def seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


@dataclass(frozen=True)
class ChunkResult:
    lo: str
    hi: str
    seen: int
    charged: int
    reminders: int
    skipped: dict[str, int] = field(default_factory=dict)


def summary_of(run: BillingRun) -> RunSummary:
    skipped = {
        SkipReason.NOT_MONTHLY.value: run.skip_not_monthly,
        SkipReason.ORDERED_AFTER.value: run.skip_ordered_after_period,
        SkipReason.UNSUBSCRIBED_BEFORE.value: run.skip_unsubscribed_before_period,
        SkipReason.IN_TRIAL.value: run.skip_in_trial,
        SkipReason.FREE.value: run.skip_free_of_charge,
        SkipReason.ALREADY_CHARGED.value: run.skip_already_charged,
    }
    return RunSummary(
        run.id,
        run.period,
        cast(RunMode, run.mode),
        run.status,
        run.actor,
        run.started_at,
        run.finished_at,
        run.seen,
        run.charged,
        run.amount_fen,
        run.reminders,
        skipped,
        run.chunks_done,
        run.last_msisdn,
    )


def list_runs(ctx: Ctx, *, period: str | None = None, limit: int = 50) -> list[RunSummary]:
    stmt = select(BillingRun).order_by(BillingRun.started_at.desc(), BillingRun.id.desc()).limit(limit)
    if period is not None:
        stmt = stmt.where(BillingRun.period == period)
    return [summary_of(r) for r in ctx.session.scalars(stmt)]


# -- the run -----------------------------------------------------------------------------------


@contextmanager
def _period_lock(db: Database, period: str) -> Iterator[None]:
    """One run per period at a time. On PostgreSQL a session advisory lock, released by the
    server if the process dies (kill -9 included); SQLite serialises writers by itself."""
    if db.engine.dialect.name != "postgresql":
        yield
        return
    conn: Connection = db.engine.connect()
    try:
        # advisory locks are per database: the schema keeps side-by-side installations apart
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        digest = hashlib.sha256(f"mingbai-billing:{schema}:{period}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if not got:
            raise Conflict(f"a billing run for {period} is already in progress", code="run_in_progress")
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
    finally:
        conn.close()


def _start_run(platform: PlatformLike, period: Period, mode: str, actor: str, now: datetime, upper: datetime) -> int:
    run_id = new_id()
    with platform.uow() as ctx:
        ctx.session.execute(
            update(BillingRun)
            .where(BillingRun.period == period.label, BillingRun.status == "running")
            .values(status="interrupted")
        )
        ctx.session.execute(
            insert(BillingRun),
            {
                "id": run_id,
                "period": period.label,
                "mode": mode,
                "status": "running",
                "started_at": now,
                "finished_at": None,
                "actor": actor,
                "seen": 0,
                "charged": 0,
                "amount_fen": 0,
                "reminders": 0,
                "skip_not_monthly": 0,
                "skip_ordered_after_period": 0,
                "skip_unsubscribed_before_period": 0,
                "skip_in_trial": 0,
                "skip_free_of_charge": 0,
                "skip_already_charged": 0,
                "chunks_done": 0,
                "last_msisdn": None,
                "confirmed_before": upper,
            },
        )
        audit.record_staff(
            ctx,
            actor=actor,
            action="charging.billing_run",
            subject=f"period:{period.label}",
            detail={"run": run_id, "mode": mode},
        )
    return run_id


def _finish_run(platform: PlatformLike, run_id: int, status: str, params: dict[str, Any] | None = None) -> RunSummary:
    """Close the run; a finished run also gets its summary: every subscription by reason."""
    with platform.uow() as ctx:
        values: dict[str, Any] = {"status": status, "finished_at": platform.clock.now()}
        if params is not None:
            counts = {row.reason: int(row.n) for row in ctx.session.execute(_sql(_COUNT_ALL), params)}
            run = ctx.session.get(BillingRun, run_id)
            assert run is not None
            values["seen"] = sum(counts.values())
            for reason in SkipReason:
                values[f"skip_{reason.value}"] = counts.get(reason.value, 0)
            values["skip_already_charged"] = max(0, counts.get("", 0) - run.charged)
        ctx.session.execute(update(BillingRun).where(BillingRun.id == run_id).values(**values))
        run = ctx.session.get(BillingRun, run_id)
        assert run is not None
        ctx.session.refresh(run)
        if status == "done":
            raise_watermark(ctx, run.period, run.confirmed_before)
        return summary_of(run)


def raise_watermark(ctx: Ctx, period: str, confirmed_before: datetime) -> None:
    current = ctx.session.get(BillingWatermark, period)
    if current is None or current.confirmed_before < confirmed_before:
        upsert(
            ctx.session,
            BillingWatermark.__table__,
            [{"period": period, "confirmed_before": confirmed_before}],
            ["period"],
        )


def statement_params(period: Period, run_id: int, now: datetime, upper: datetime, settings: Settings) -> dict[str, Any]:
    a, b, c, d = texts.monthly_reminder_parts(period.month_zh)
    return {
        "period": period.label,
        "batch_id": run_id,
        "now": now,
        "upper": upper,
        "p_start": period.start,
        "next_first_day": period.next_first_day,
        "sender": settings.service_number,
        "reminder_kind": MessageKind.CHARGE_REMINDER,
        "due": reminder_due_at(now),
        "t_a": a,
        "t_b": b,
        "t_c": c,
        "t_d": d,
    }


def remind_rows(ctx: Ctx, period: Period, rows: Sequence[Any], now: datetime) -> None:
    """A deduction reminder for each charge row, to whom it was charged (a gift's: its gifter)."""
    names = {
        code: (sp_name, name)
        for code, name, sp_name in ctx.session.execute(
            text("SELECT svc.code, svc.name, p.name FROM service svc JOIN sp p ON p.code = svc.sp_code")
        ).all()
    }
    due = reminder_due_at(now)
    ctx.session.execute(
        insert(OutboundSms),
        [
            {
                "msisdn": r.msisdn,
                "id": r.id,
                "sender": ctx.settings.service_number,
                "text": texts.for_recipient(
                    texts.monthly_reminder(period.month_zh, *names[r.service_code], int(r.amount_fen), r.service_code),
                    r.recipient_msisdn,
                ),
                "kind": MessageKind.CHARGE_REMINDER,  # sent once by its primary key: its id is the charge's
                "segmentation": "concat",
                "status": "queued",
                "created_at": now,
                "due_at": due,
            }
            for r in rows
        ],
    )


def _charge_chunk(ctx: Ctx, params: dict[str, Any], lo: str, hi: str, size: int, *, safe: bool = False) -> ChunkResult:
    """One chunk in the caller's transaction: charge, remind, record progress."""
    session = ctx.session
    if ctx.dialect == "postgresql":
        # The planner's statistics on charge describe the table before this run (often: empty).
        # Believing it empty, it would answer "charged already?" with a scan of every charge per
        # subscription, and join the chunk's fresh charges to the catalog in a nested loop: both
        # are minutes instead of milliseconds once the table has filled. Every statement here is
        # an index range or an index probe by design, so say so (enable_seqscan, enable_nestloop).
        # The range is the run's own choosing, so always plan for the actual bounds
        # (plan_cache_mode). A chunk commits without waiting for its WAL flush
        # (synchronous_commit): a crash may lose the last chunks (charges and their reminders
        # together, as one transaction), which a rerun redoes; the run's final "done" commits
        # synchronously and so flushes everything before it. All SET LOCAL, via set_config(…, true).
        session.execute(text(_CHUNK_SETTINGS))
    p = dict(params, lo=lo, hi=hi, base_id=reserve_ids(size + 1))
    sql = (CHARGE_SAFE if safe else _CHARGE_FAST).format(where=f"{_RANGE_S} AND s.payer_msisdn IS NULL")
    charged = int(session.execute(timed_sql(sql), p).rowcount)  # type: ignore[attr-defined]
    gifts = session.execute(timed_sql(CHARGE_GIFTS), dict(p, base_id=reserve_ids(size + 1))).all()
    reminders = 0
    if gifts:
        remind_rows(ctx, parse_billing_period(str(params["period"])), gifts, params["now"])
        charged += len(gifts)
        reminders += len(gifts)
    p["gift_fen"] = sum(int(g.amount_fen) for g in gifts)
    if charged:
        reminders += int(
            session.execute(
                text(_REMIND_CITUS if ctx.citus else _REMIND).bindparams(
                    bindparam("now", type_=UtcDateTime), bindparam("due", type_=UtcDateTime)
                ),
                p,
            ).rowcount  # type: ignore[attr-defined]
        )
        session.execute(text(_PROGRESS), {"charged": charged, "reminders": reminders, "last": hi, **p})
    else:
        session.execute(text(_PROGRESS_EMPTY), {"last": hi, **p})
    return ChunkResult(lo, hi, size, charged, reminders)


def _next_bound(platform: PlatformLike, lo: str, chunk_size: int) -> str | None:
    """The MSISDN ``chunk_size`` subscriptions after ``lo`` (None: the rest fits in one chunk).
    Chunks end on a whole MSISDN, so one subscriber's subscriptions are never split."""
    engine = platform.db.engine
    with engine.connect() as conn:
        if is_citus(engine, conn):
            return _next_bound_on_shards(conn, lo, chunk_size)
        return conn.execute(text(_BOUND), {"lo": lo, "n": chunk_size - 1}).scalar()


def _next_bound_on_shards(conn: Connection, lo: str, chunk_size: int) -> str | None:
    """:func:`_next_bound` on Citus, found on the workers: each of the S shards of ``subscription``
    finds its own q-th MSISDN after ``lo`` (q = chunk_size // S, at least 1), each worker sends back
    the least of its shards' and the bound is the least of those. The chunk (lo, bound] then holds at most q rows (plus
    the bound subscriber's other subscriptions) of the shard that gave the bound and fewer than q
    of every other shard, so at most ``chunk_size`` like on one node; a shard with fewer than q
    left gives nothing, and None means every shard has fewer than q left (the rest fits).
    ``SELECT … ORDER BY msisdn OFFSET n`` on the distributed table would instead have every shard
    send its first n MSISDNs to the coordinator to merge (docs/citus.md)."""
    bound, failed, error = conn.execute(text(_BOUND_CITUS), {"lo": lo, "chunk": chunk_size}).one()
    if failed:
        raise RuntimeError(f"finding a billing chunk's end failed on {failed} worker(s): {error}")
    return cast("str | None", bound)


def count_subscriptions(platform: PlatformLike) -> int:
    with platform.uow() as ctx:
        return int(ctx.session.execute(text("SELECT count(*) FROM subscription")).scalar() or 0)


def run_billing(
    platform: PlatformLike,
    period: Period,
    *,
    actor: str,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int | None = None,
    throttle_ms: int = 0,
    on_start: Callable[[int], None] | None = None,
    on_chunk: Callable[[ChunkResult], None] | None = None,
) -> RunSummary:
    """Charge ``period``'s monthly fees for every subscription that owes them.

    Each chunk commits on its own; ``workers`` > 1 charges chunks side by side on PostgreSQL
    (SQLite has one writer, so it always uses one; default: ``settings.billing_workers``).
    ``throttle_ms`` pauses between chunks to leave the database to online traffic.
    """
    if chunk_size < 1:
        raise InvalidInput("chunk size must be at least 1")
    if workers is None:
        workers = platform.settings.billing_workers
    if workers < 1:
        raise InvalidInput("workers must be at least 1")
    now = platform.clock.now()
    if period.start > now:
        raise InvalidInput(f"period {period.label} has not begun; its fees fall due on {period.first_day}")
    if platform.db.engine.dialect.name != "postgresql":
        workers = 1
    upper = charge_upper_bound(period, now + timedelta(microseconds=1))
    with _period_lock(platform.db, period.label):
        run_id = _start_run(platform, period, "full", actor, now, upper)
        if on_start is not None:
            on_start(count_subscriptions(platform))
        params = statement_params(period, run_id, now, upper, platform.settings)
        bounds_lock = threading.Lock()
        cursor = {"lo": "", "done": False}

        def next_chunk() -> tuple[str, str] | None:
            with bounds_lock:
                if cursor["done"]:
                    return None
                lo = str(cursor["lo"])
                hi = _next_bound(platform, lo, chunk_size)
                if hi is None:
                    cursor["done"] = True
                    hi = _TOP
                cursor["lo"] = hi
                return lo, hi

        def worker() -> None:
            while (bounds := next_chunk()) is not None:
                try:
                    with platform.uow() as ctx:
                        result = _charge_chunk(ctx, params, *bounds, chunk_size)
                except IntegrityError:
                    # another writer inserted one of these fees meanwhile: redo the chunk safely
                    log.warning(
                        "billing %s: chunk after %s redone with ON CONFLICT", period.label, mask_msisdn(bounds[0])
                    )
                    with platform.uow() as ctx:
                        result = _charge_chunk(ctx, params, *bounds, chunk_size, safe=True)
                if on_chunk is not None:
                    on_chunk(result)
                if throttle_ms:
                    time.sleep(throttle_ms / 1000)

        try:
            if workers <= 1:
                worker()
            else:
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="billing") as pool:
                    for future in [pool.submit(worker) for _ in range(workers)]:
                        future.result()
        except BaseException:
            try:
                _finish_run(platform, run_id, "failed")
            except Exception:  # the database itself may be what failed
                log.exception("could not mark billing run %s failed", run_id)
            raise
        return _finish_run(platform, run_id, "done", params)
