"""The durable outbox as the SMPP gateway uses it (service layer: every function takes a
``Ctx`` and never commits).

Rules of idempotent (re)submission — docs/SMS.md tells the whole story:

1. Every MT is a row before anything goes on the air (``enqueue``).
2. A gateway run *claims* due rows (queued → submitting, ``attempt`` + 1, ``claimed_by`` = run id)
   and commits that before it writes a single PDU.
3. A submit_sm_resp records the SMSC message id (single-part rows: ``gateway_ref``; parts of a
   longer text: one ``sms_part`` row each) and moves the row to submitted.
4. A row whose PDU may have reached the SMSC but whose answer was lost (connection dropped, process
   killed) is never simply sent again: it becomes ``in_doubt`` and waits ``doubt_wait`` for a
   delivery receipt. Receipts whose id we never stored (the answer was lost) are matched to the
   subscriber's oldest in-doubt row. Only a row that stays unreceipted for the whole wait is
   submitted again — the one window where SMPP 3.4 (no idempotency key) can still duplicate.
5. A receipt is acknowledged to the SMSC only after it is committed (gateway), so none is lost.
6. Parts already accepted are never sent again; a resent part keeps its UDH reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, text, tuple_, update

from mingbai.clock import SHANGHAI
from mingbai.db import Ctx, upsert
from mingbai.ids import new_id, reserve_ids
from mingbai.messaging.models import PAST_QUEUED, OutboundSms, SmsPart, SmsReceiptOrphan
from mingbai.messaging.rules import (
    FINAL_STATES,
    OPEN_STATES,
    aggregate_parts,
    in_quiet_hours,
    parts_for,
    receipt_outcome,
)
from mingbai.msisdn import mask_msisdn

T = OutboundSms
#: executemany UPDATEs go through the Core tables (the ORM would want primary-key bulk mode)
TT: Table = OutboundSms.__table__  # type: ignore[assignment]
PT: Table = SmsPart.__table__  # type: ignore[assignment]


# -- claiming ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    msisdn: str
    id: int
    sender: str
    text: str
    segmentation: str
    attempt: int
    due_at: datetime
    #: parts an earlier attempt already got accepted (never sent again)
    accepted_parts: frozenset[int] = frozenset()


def claim_due(
    ctx: Ctx, *, run_id: str, limit: int, quiet: tuple[time, time] | None = None, ahead: timedelta = timedelta(0)
) -> list[Claimed]:
    """Take up to ``limit`` rows due by now + ``ahead`` for this run: queued → submitting, oldest
    due first (the sender holds a row claimed ahead until its due time, so paced rows go out on
    time rather than one claim's round trip late).

    Bulk rows stay queued during the quiet hours. On PostgreSQL two runs would skip each
    other's rows (SKIP LOCKED), though the lease keeps it to one run at a time.
    """
    now = ctx.now()
    due = select(T.msisdn, T.id).where(T.status == "queued", T.due_at <= now + ahead)
    if quiet is not None and in_quiet_hours(now.astimezone(SHANGHAI).time(), quiet):
        due = due.where(T.bulk.is_(False))
    due = due.order_by(T.due_at, T.id).limit(limit)
    claim = update(T).values(status="submitting", attempt=T.attempt + 1, claimed_by=run_id, claimed_at=now)
    if ctx.dialect == "postgresql" and ctx.citus:
        # Citus locks no rows of a many-shard SELECT: read the due rows, then claim those still
        # queued (the status check keeps a claim exclusive; a row another run took is skipped)
        keys = [tuple(r) for r in ctx.session.execute(due)]
        if not keys:
            return []
        claim = claim.where(tuple_(T.msisdn, T.id).in_(keys), T.status == "queued")
    else:
        if ctx.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claim = claim.where(tuple_(T.msisdn, T.id).in_(due))
    rows = ctx.session.execute(
        claim.returning(T.msisdn, T.id, T.sender, T.text, T.segmentation, T.attempt, T.due_at)
    ).all()
    claimed = sorted(rows, key=lambda r: (r.due_at, r.id))
    # rows sent before (resubmissions) may have parts the SMSC already accepted
    again = [(r.msisdn, r.id) for r in claimed if r.attempt > 1]
    accepted: dict[tuple[str, int], set[int]] = defaultdict(set)
    if again:
        for p in ctx.session.execute(
            select(SmsPart.msisdn, SmsPart.outbox_id, SmsPart.part_no).where(
                tuple_(SmsPart.msisdn, SmsPart.outbox_id).in_(again), SmsPart.smsc_id.is_not(None)
            )
        ):
            accepted[(p.msisdn, p.outbox_id)].add(p.part_no)
    return [
        Claimed(
            r.msisdn,
            r.id,
            r.sender,
            ctx.settings.sealer.open(r.text),  # a one-time code is in clear only on its way out
            r.segmentation,
            r.attempt,
            r.due_at,
            frozenset(accepted.get((r.msisdn, r.id), ())),
        )
        for r in claimed
    ]


# -- events from the gateway ---------------------------------------------------------------------


@dataclass(frozen=True)
class PartAccepted:
    """submit_sm_resp OK for one part of a multi-part row."""

    msisdn: str
    outbox_id: int
    part_no: int
    attempt: int
    smsc_id: str


@dataclass(frozen=True)
class RowOutcome:
    """What became of a claimed row: submitted | rejected | in_doubt | requeue."""

    msisdn: str
    outbox_id: int
    kind: str
    parts: int
    gateway_ref: str | None = None
    error: str | None = None
    #: requeue: how long to wait before the row is due again
    delay_s: float = 0.0


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: the SMSC's id of the message, its ``stat`` and the handset number."""

    smsc_id: str
    msisdn: str
    stat: str
    err: str | None = None


Event = PartAccepted | RowOutcome | Receipt


@dataclass
class ApplyReport:
    submitted: int = 0
    rejected: int = 0
    in_doubt: int = 0
    requeued: int = 0
    receipts: int = 0
    receipts_matched_in_doubt: int = 0
    orphans: int = 0
    finals: dict[str, int] = field(default_factory=dict)


def apply_events(ctx: Ctx, events: Sequence[Event], *, doubt_wait: timedelta) -> ApplyReport:
    """Record a batch of gateway events in one transaction.

    Order inside the batch is kept where it matters: accepted parts and row outcomes are
    written before receipts (a receipt always follows the answer to its submit).
    """
    now = ctx.now()
    report = ApplyReport()
    parts = [e for e in events if isinstance(e, PartAccepted)]
    outcomes = [e for e in events if isinstance(e, RowOutcome)]
    receipts = [e for e in events if isinstance(e, Receipt)]
    if parts:
        upsert(
            ctx.session,
            SmsPart.__table__,
            [
                {
                    "msisdn": p.msisdn,
                    "outbox_id": p.outbox_id,
                    "part_no": p.part_no,
                    "attempt": p.attempt,
                    "smsc_id": p.smsc_id,
                    "status": "submitted",
                    "submitted_at": now,
                    "done_at": None,
                    "error": None,
                }
                for p in parts
            ],
            ["msisdn", "outbox_id", "part_no"],
        )
    if outcomes:
        _apply_outcomes(ctx, outcomes, now, doubt_wait, report)
    # a receipt can overtake the answer to its submit (the SMSC writes both; nothing orders
    # them): it was kept as an orphan, and now that the id is known it counts
    new_ids = [p.smsc_id for p in parts] + [o.gateway_ref for o in outcomes if o.kind == "submitted" and o.gateway_ref]
    if new_ids:
        early = ctx.session.execute(
            delete(SmsReceiptOrphan)
            .where(SmsReceiptOrphan.smsc_id.in_(new_ids))
            .returning(SmsReceiptOrphan.smsc_id, SmsReceiptOrphan.msisdn, SmsReceiptOrphan.stat, SmsReceiptOrphan.err)
        ).all()
        if early:
            receipts = [Receipt(e.smsc_id, e.msisdn, e.stat, e.err) for e in early] + receipts
    if receipts:
        _apply_receipts(ctx, receipts, now, report)
    return report


#: a literal list: executemany cannot expand an IN list per row
_STILL_OPEN = text("sms_outbox.status IN ({})".format(", ".join(f"'{s}'" for s in OPEN_STATES)))
_KEY = and_(TT.c.msisdn == bindparam("k_msisdn"), TT.c.id == bindparam("k_id"))


def _apply_outcomes(
    ctx: Ctx, outcomes: list[RowOutcome], now: datetime, doubt_wait: timedelta, report: ApplyReport
) -> None:
    by_kind: dict[str, list[RowOutcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    submitting = TT.c.status == "submitting"
    if by_kind["submitted"]:
        ctx.session.execute(
            update(TT)
            .where(_KEY, submitting)
            .values(
                status="submitted",
                gateway_ref=bindparam("v_ref"),
                parts=bindparam("v_parts"),
                sent_at=now,
                error=None,
                claimed_by=None,
            ),
            [
                {"k_msisdn": o.msisdn, "k_id": o.outbox_id, "v_ref": o.gateway_ref, "v_parts": o.parts}
                for o in by_kind["submitted"]
            ],
        )
        report.submitted += len(by_kind["submitted"])
        # a multi-part row's receipts may already be in (they can overtake the last answer)
        multi = [(o.msisdn, o.outbox_id) for o in by_kind["submitted"] if o.parts > 1]
        if multi:
            _settle_multipart(ctx, multi, now, report)
    if by_kind["rejected"]:
        ctx.session.execute(
            update(TT)
            .where(_KEY, submitting)
            .values(
                status="rejected",
                parts=bindparam("v_parts"),
                error=bindparam("v_error"),
                done_at=now,
                claimed_by=None,
            ),
            [
                {"k_msisdn": o.msisdn, "k_id": o.outbox_id, "v_parts": o.parts, "v_error": (o.error or "")[:64]}
                for o in by_kind["rejected"]
            ],
        )
        report.rejected += len(by_kind["rejected"])
        report.finals["rejected"] = report.finals.get("rejected", 0) + len(by_kind["rejected"])
    if by_kind["in_doubt"]:
        ctx.session.execute(
            update(TT)
            .where(_KEY, submitting)
            .values(
                status="in_doubt",
                parts=bindparam("v_parts"),
                error=bindparam("v_error"),
                doubt_until=now + doubt_wait,
            ),
            [
                {"k_msisdn": o.msisdn, "k_id": o.outbox_id, "v_parts": o.parts, "v_error": (o.error or "")[:64]}
                for o in by_kind["in_doubt"]
            ],
        )
        report.in_doubt += len(by_kind["in_doubt"])
    if by_kind["requeue"]:
        ctx.session.execute(
            update(TT)
            .where(_KEY, submitting)
            .values(status="queued", error=bindparam("v_error"), due_at=bindparam("v_due"), claimed_by=None),
            [
                {
                    "k_msisdn": o.msisdn,
                    "k_id": o.outbox_id,
                    "v_error": (o.error or "")[:64] or None,
                    "v_due": now + timedelta(seconds=o.delay_s),
                }
                for o in by_kind["requeue"]
            ],
        )
        report.requeued += len(by_kind["requeue"])


def _apply_receipts(ctx: Ctx, receipts: list[Receipt], now: datetime, report: ApplyReport) -> None:
    report.receipts += len(receipts)
    ids = list({r.smsc_id for r in receipts})
    # 1. single-part rows carry the id themselves
    singles = {
        row.gateway_ref: row
        for row in ctx.session.execute(
            select(T.msisdn, T.id, T.status, T.gateway_ref).where(T.gateway_ref.in_(ids), T.parts == 1)
        )
    }
    # 2. parts of longer texts
    rest = [i for i in ids if i not in singles]
    parts = {
        p.smsc_id: p
        for p in (
            ctx.session.execute(
                select(SmsPart.msisdn, SmsPart.outbox_id, SmsPart.part_no, SmsPart.status, SmsPart.smsc_id).where(
                    SmsPart.smsc_id.in_(rest)
                )
            )
            if rest
            else []
        )
    }
    single_updates: list[dict[str, object]] = []
    part_updates: list[dict[str, object]] = []
    touched: set[tuple[str, int]] = set()
    unmatched: list[Receipt] = []
    for r in receipts:
        outcome = receipt_outcome(r.stat)
        if r.smsc_id in singles:
            row = singles[r.smsc_id]
            if outcome is not None and row.status not in FINAL_STATES:
                single_updates.append(
                    {
                        "k_msisdn": row.msisdn,
                        "k_id": row.id,
                        "v_status": outcome,
                        "v_error": None if outcome == "delivered" else _stat(r),
                    }
                )
        elif r.smsc_id in parts:
            p = parts[r.smsc_id]
            if outcome is not None and p.status not in FINAL_STATES:
                part_updates.append(
                    {
                        "k_msisdn": p.msisdn,
                        "k_id": p.outbox_id,
                        "k_part": p.part_no,
                        "v_status": outcome,
                        "v_error": None if outcome == "delivered" else _stat(r),
                    }
                )
                touched.add((p.msisdn, p.outbox_id))
        else:
            unmatched.append(r)
    if single_updates:
        ctx.session.execute(
            update(TT)
            .where(_KEY, _STILL_OPEN)
            .values(status=bindparam("v_status"), error=bindparam("v_error"), done_at=now, doubt_until=None),
            single_updates,
        )
        for u in single_updates:
            report.finals[str(u["v_status"])] = report.finals.get(str(u["v_status"]), 0) + 1
    if part_updates:
        ctx.session.execute(
            update(PT)
            .where(
                PT.c.msisdn == bindparam("k_msisdn"),
                PT.c.outbox_id == bindparam("k_id"),
                PT.c.part_no == bindparam("k_part"),
            )
            .values(status=bindparam("v_status"), error=bindparam("v_error"), done_at=now),
            part_updates,
        )
    if unmatched:
        touched |= _match_in_doubt(ctx, unmatched, now, report)
    if touched:
        _settle_multipart(ctx, list(touched), now, report)


def _stat(r: Receipt) -> str:
    return f"{r.stat.strip().upper()[:7]}" + (f" err:{r.err}" if r.err and r.err.strip("0") else "")


def _match_in_doubt(ctx: Ctx, receipts: list[Receipt], now: datetime, report: ApplyReport) -> set[tuple[str, int]]:
    """Give receipts nobody knows to the subscriber's oldest in-doubt row that still misses a part.

    Such a receipt proves the SMSC took a submit whose answer we lost; in-doubt rows wait for
    exactly that proof before they are resubmitted."""
    touched: set[tuple[str, int]] = set()
    msisdns = list({r.msisdn for r in receipts})
    rows = ctx.session.execute(
        select(T.msisdn, T.id, T.text, T.segmentation, T.gateway_ref, T.status)
        .where(T.status == "in_doubt", T.msisdn.in_(msisdns))
        .order_by(T.msisdn, T.id)
    ).all()
    known: dict[tuple[str, int], set[int]] = defaultdict(set)
    multi_keys = [
        (r.msisdn, r.id) for r in rows if len(parts_for(ctx.settings.sealer.open(r.text), r.segmentation)) > 1
    ]
    if multi_keys:
        for p in ctx.session.execute(
            select(SmsPart.msisdn, SmsPart.outbox_id, SmsPart.part_no).where(
                tuple_(SmsPart.msisdn, SmsPart.outbox_id).in_(multi_keys)
            )
        ):
            known[(p.msisdn, p.outbox_id)].add(p.part_no)
    # per subscriber: a queue of (row, missing part numbers)
    waiting: dict[str, list[tuple[object, int, list[int]]]] = defaultdict(list)
    for r in rows:
        total = len(parts_for(ctx.settings.sealer.open(r.text), r.segmentation))
        if total == 1:
            missing = [] if r.gateway_ref else [1]
        else:
            missing = [n for n in range(1, total + 1) if n not in known[(r.msisdn, r.id)]]
        if missing:
            waiting[r.msisdn].append((r, total, missing))
    orphans: list[dict[str, object]] = []
    for rc in receipts:
        queue = waiting.get(rc.msisdn)
        if not queue:
            orphans.append(
                {
                    "msisdn": rc.msisdn[:21],
                    "id": new_id(),
                    "smsc_id": rc.smsc_id,
                    "stat": rc.stat[:16],
                    "err": (rc.err or "")[:16] or None,
                    "received_at": now,
                }
            )
            continue
        row, total, missing = queue[0]
        part_no = missing.pop(0)
        if not missing:
            queue.pop(0)
        outcome = receipt_outcome(rc.stat)
        report.receipts_matched_in_doubt += 1
        key = (row.msisdn, row.id)  # type: ignore[attr-defined]
        if total == 1:
            values: dict[str, object] = {"gateway_ref": rc.smsc_id, "parts": 1, "doubt_until": None}
            if outcome is not None:
                values |= {
                    "status": outcome,
                    "done_at": now,
                    "error": None if outcome == "delivered" else _stat(rc),
                }
                report.finals[outcome] = report.finals.get(outcome, 0) + 1
            else:
                values |= {"status": "submitted", "error": None}
            ctx.session.execute(update(T).where(T.msisdn == key[0], T.id == key[1]).values(**values))
        else:
            ctx.session.execute(
                insert(SmsPart),
                {
                    "msisdn": key[0],
                    "outbox_id": key[1],
                    "part_no": part_no,
                    "attempt": 0,
                    "smsc_id": rc.smsc_id,
                    "status": outcome or "submitted",
                    "submitted_at": now,
                    "done_at": now if outcome else None,
                    "error": None if outcome in (None, "delivered") else _stat(rc),
                },
            )
            touched.add(key)
    if orphans:
        ctx.session.execute(insert(SmsReceiptOrphan), orphans)
        report.orphans += len(orphans)
    return touched


def _settle_multipart(ctx: Ctx, keys: list[tuple[str, int]], now: datetime, report: ApplyReport) -> None:
    """Bring multi-part rows in line with their parts: submitted once every part is accepted,
    final once every part has a final receipt."""
    rows = ctx.session.execute(
        select(T.msisdn, T.id, T.status, T.text, T.segmentation).where(tuple_(T.msisdn, T.id).in_(keys))
    ).all()
    states: dict[tuple[str, int], dict[int, tuple[str, str | None, str | None]]] = defaultdict(dict)
    for p in ctx.session.execute(
        select(
            SmsPart.msisdn, SmsPart.outbox_id, SmsPart.part_no, SmsPart.status, SmsPart.error, SmsPart.smsc_id
        ).where(tuple_(SmsPart.msisdn, SmsPart.outbox_id).in_(keys))
    ):
        states[(p.msisdn, p.outbox_id)][p.part_no] = (p.status, p.error, p.smsc_id)
    for r in rows:
        if r.status in FINAL_STATES:
            continue
        total = len(parts_for(ctx.settings.sealer.open(r.text), r.segmentation))
        got = states.get((r.msisdn, r.id), {})
        final = aggregate_parts([s for s, _, _ in got.values()], total)
        if final is not None and r.status in ("submitted", "in_doubt"):
            errors = [e for _, e, _ in got.values() if e]
            ctx.session.execute(
                update(T)
                .where(T.msisdn == r.msisdn, T.id == r.id)
                .values(status=final, done_at=now, error=errors[0] if errors else None, doubt_until=None, parts=total)
            )
            report.finals[final] = report.finals.get(final, 0) + 1
        elif r.status == "in_doubt" and len(got) == total:
            first = got.get(1)
            ctx.session.execute(
                update(T)
                .where(T.msisdn == r.msisdn, T.id == r.id)
                .values(status="submitted", doubt_until=None, parts=total, gateway_ref=first[2] if first else None)
            )


# -- recovery ----------------------------------------------------------------------------------------


def reconcile_lost_runs(ctx: Ctx, *, run_id: str, doubt_wait: timedelta) -> int:
    """At start-up (holding the lease): rows another, vanished run left in submitting are in doubt."""
    result = ctx.session.execute(
        update(T)
        .where(T.status == "submitting", or_(T.claimed_by.is_(None), T.claimed_by != run_id))
        .values(status="in_doubt", doubt_until=ctx.now() + doubt_wait, error="run_lost")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release_doubts(ctx: Ctx) -> int:
    """In-doubt rows whose wait is over without a receipt: submit them again (missing parts only)."""
    now = ctx.now()
    result = ctx.session.execute(
        update(T)
        .where(T.status == "in_doubt", T.doubt_until <= now)
        .values(status="queued", due_at=now, doubt_until=None, error="resubmitted_after_doubt", claimed_by=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- what operators see ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OldestOpen:
    msisdn: str  # masked
    outbox_id: int
    status: str
    kind: str
    created_at: datetime
    age_seconds: float


@dataclass(frozen=True)
class OutboxStats:
    since: datetime
    counts: dict[str, int]
    #: delivered ÷ rows with a final state, over the window; None before any is final
    delivery_rate: float | None
    oldest_open: OldestOpen | None
    orphan_receipts: int


def outbox_stats(ctx: Ctx, *, since: datetime) -> OutboxStats:
    counts = {s: 0 for s in (*OPEN_STATES, *FINAL_STATES)}
    for status, n in ctx.session.execute(
        select(T.status, func.count()).where(T.created_at >= since).group_by(T.status)
    ).all():
        counts[status] = int(n)
    final = sum(counts[s] for s in FINAL_STATES)
    rate = counts["delivered"] / final if final else None
    # The oldest open row, whenever it was created. Past queued: by age, from
    # ix_sms_outbox_status_created, which leaves queued rows out (SQLite uses a partial index only
    # when the query repeats its condition, hence the literal). Queued: the one longest due, from
    # ix_sms_outbox_due. No tie-break on id: neither index holds it, and the millions of reminders
    # of one billing run share one due time, so a tie-break would sort them all at every scrape.
    oldest = None
    for status in OPEN_STATES:
        stmt = select(T.msisdn, T.id, T.status, T.kind, T.created_at).where(T.status == status)
        stmt = stmt.order_by(T.due_at) if status == "queued" else stmt.where(text(PAST_QUEUED)).order_by(T.created_at)
        row = ctx.session.execute(stmt.limit(1)).first()
        if row is not None and (oldest is None or row.created_at < oldest.created_at):
            oldest = row
    orphans = int(
        ctx.session.execute(
            select(func.count()).select_from(SmsReceiptOrphan).where(SmsReceiptOrphan.received_at >= since)
        ).scalar_one()
    )
    return OutboxStats(
        since=since,
        counts=counts,
        delivery_rate=rate,
        oldest_open=OldestOpen(
            mask_msisdn(oldest.msisdn),
            oldest.id,
            oldest.status,
            oldest.kind,
            oldest.created_at,
            (ctx.now() - oldest.created_at).total_seconds(),
        )
        if oldest is not None
        else None,
        orphan_receipts=orphans,
    )


def reserve_outbox_ids(count: int) -> int:
    """First of ``count`` fresh outbox ids (for set-based inserts of bulk rows)."""
    return reserve_ids(count)
