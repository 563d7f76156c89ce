"""Usage records in: per-use charges with their deduction reminders, traffic alerts (R6, R7),
and monthly usage figures for bills and the tariff advisor.

The whole file is checked before anything is written. The API applies it in one transaction;
the CLI in chunks, each its own short transaction (other writers get the database in between),
resumable from the line ``usage_import`` says it reached. The same file twice is recognised by
its SHA-256 and does nothing; overlapping files and resumed runs are safe too, because a record
is keyed by (msisdn, record_id), a per-use charge by (msisdn, subscription, period, record_id)
and an alert by its threshold.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, insert, select, tuple_

from mingbai.audit import service as audit
from mingbai.catalog.models import Service, Sp, Subscriber
from mingbai.charging import texts
from mingbai.charging.models import Charge, UsageImport, UsageRecord
from mingbai.charging.packages import MonthUsage, find_package
from mingbai.charging.rules import parse_billing_period, period_at, reminder_due_at, traffic_alerts
from mingbai.charging.usage_csv import UsageFileError, UsageRow, parse_usage_csv
from mingbai.clock import local_date
from mingbai.db import Ctx
from mingbai.errors import TooLarge
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.models import OutboundSms
from mingbai.messaging.service import enqueue
from mingbai.msisdn import mask_msisdn
from mingbai.subscriptions.models import Subscription

#: rows per IN (…) list, well under SQLite's variable limit
_SLICE = 500


@dataclass(frozen=True)
class UsageImportReport:
    import_id: int
    filename: str
    records: int
    new_records: int
    charges: int
    amount_fen: int
    alerts: int
    #: True when this very file had been imported before: nothing was done
    already_imported: bool = False


def _dialect_insert(ctx: Ctx) -> Any:
    if ctx.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _slices(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _SLICE):
        yield items[i : i + _SLICE]


def import_usage(ctx: Ctx, data: bytes, *, filename: str, actor: str) -> UsageImportReport:
    """Apply a usage file (docs/usage-csv.md) whole in this one transaction (the API's way), or
    reject it whole with line numbers. Big files go through :func:`import_usage_in_chunks`."""
    prepared = _prepare(ctx, data, filename=filename, actor=actor)
    if isinstance(prepared, UsageImportReport):
        return prepared
    _apply_chunk(ctx, prepared, prepared.rows, last=True)
    return _report(ctx, prepared)


#: rows per transaction of a chunked import: short enough that other writers get the database
#: (SQLite has one writer at a time) between chunks
CHUNK_ROWS = 5_000


def import_usage_in_chunks(
    uow: Callable[[], AbstractContextManager[Ctx]],
    data: bytes,
    *,
    filename: str,
    actor: str,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> UsageImportReport:
    """Apply a usage file in chunks of ``chunk_rows`` records, each chunk its own transaction.

    The whole file is checked first (parse, subscribers, subscriptions, records seen before), so
    a bad line still refuses the file before anything is written. Then ``usage_import`` records
    the file by its SHA-256 as ``running``, and every chunk commits its records, charges,
    reminders, alerts and the file line it reached together. A rerun of the same file after a
    crash resumes after that line; charges are keyed by record, alerts by threshold, so nothing
    is charged or alerted twice. ``progress(done, total)`` is called after each commit.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    with uow() as ctx:
        prepared = _prepare(ctx, data, filename=filename, actor=actor)
    if isinstance(prepared, UsageImportReport):
        return prepared
    todo = [r for r in prepared.rows if r.line > prepared.last_line]
    total = len(prepared.rows)
    done = total - len(todo)
    if progress is not None:
        progress(done, total)
    chunks = [todo[i : i + chunk_rows] for i in range(0, len(todo), chunk_rows)] or [[]]
    for n, chunk in enumerate(chunks):
        with uow() as ctx:
            _apply_chunk(ctx, prepared, chunk, last=n == len(chunks) - 1)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    with uow() as ctx:
        return _report(ctx, prepared)


@dataclass(frozen=True)
class _Prepared:
    import_id: int
    filename: str
    rows: list[UsageRow]
    subs_for: dict[int, _Sub]
    #: the file line of the last record already committed (0: none)
    last_line: int


def _prepare(ctx: Ctx, data: bytes, *, filename: str, actor: str) -> _Prepared | UsageImportReport:
    """Check the whole file and register it (``running``); the report when it was done before."""
    if len(data) > ctx.settings.max_import_bytes:
        raise TooLarge(
            f"a usage file may have at most {ctx.settings.max_import_bytes} bytes (MINGBAI_MAX_IMPORT_BYTES); "
            "split it: records already imported are skipped when a file is sent again",
            code="file_too_large",
        )
    rows = parse_usage_csv(data, max_use_quantity=ctx.settings.max_use_quantity)
    sha = hashlib.sha256(data).hexdigest()
    previous = ctx.session.scalars(select(UsageImport).where(UsageImport.sha256 == sha)).first()
    if previous is not None and previous.status == "done":
        return UsageImportReport(
            previous.id,
            previous.filename,
            previous.records,
            0,
            0,
            0,
            0,
            already_imported=True,
        )
    subs_for = _check_against_database(ctx, rows)
    _check_seen_before(ctx, rows)
    if previous is not None:  # a run that stopped part way: resume after its last committed line
        return _Prepared(previous.id, previous.filename, rows, subs_for, previous.last_line)
    import_id = new_id()
    ctx.session.execute(
        insert(UsageImport),
        {
            "id": import_id,
            "sha256": sha,
            "filename": filename[-200:],
            "imported_at": ctx.now(),
            "actor": actor,
            "records": len(rows),
            "new_records": 0,
            "charges": 0,
            "amount_fen": 0,
            "alerts": 0,
            "status": "running",
            "last_line": 0,
        },
    )
    audit.record_staff(
        ctx,
        actor=actor,
        action="charging.usage_import",
        subject=f"usage:{import_id}",
        detail={"file": filename[-60:], "sha256": sha[:16], "records": len(rows)},
    )
    return _Prepared(import_id, filename[-200:], rows, subs_for, 0)


@dataclass(frozen=True)
class _Sub:
    id: int
    sp_code: str
    price_fen: int
    confirmed_at: datetime
    unsubscribed_at: datetime | None
    #: the gifter who pays for a gift (None: the user pays)
    payer_msisdn: str | None = None


def _apply_chunk(ctx: Ctx, prepared: _Prepared, rows: list[UsageRow], *, last: bool) -> None:
    """Records, charges, reminders and alerts of ``rows``, and how far the file got, in ``ctx``."""
    state = ctx.session.scalars(select(UsageImport).where(UsageImport.id == prepared.import_id).with_for_update()).one()
    rows = [r for r in rows if r.line > state.last_line]  # another run got here first
    new_keys = _insert_records(ctx, rows, prepared.import_id)
    new_rows = [r for r in rows if (r.msisdn, r.record_id) in new_keys]
    charges, amount = _charge_per_use(
        ctx, [r for r in new_rows if r.kind == "vas"], prepared.subs_for, prepared.import_id
    )
    alerts = _traffic_alerts(ctx, [r for r in new_rows if r.kind == "data"])
    state.new_records += len(new_rows)
    state.charges += charges
    state.amount_fen += amount
    state.alerts += alerts
    if rows:
        state.last_line = rows[-1].line
    if last:
        state.status = "done"
    ctx.session.flush()


def _report(ctx: Ctx, prepared: _Prepared) -> UsageImportReport:
    state = ctx.session.get_one(UsageImport, prepared.import_id)
    return UsageImportReport(
        state.id, prepared.filename, state.records, state.new_records, state.charges, state.amount_fen, state.alerts
    )


def _check_against_database(ctx: Ctx, rows: list[UsageRow]) -> dict[int, _Sub]:
    """What the file cannot know: is the subscriber ours, was the use chargeable? Returns the
    per-use subscription each VAS line is charged to (by line)."""
    now = ctx.now()
    problems: list[tuple[int, str]] = []
    msisdns = sorted({r.msisdn for r in rows})
    known: set[str] = set()
    for part in _slices(msisdns):
        known.update(ctx.session.scalars(select(Subscriber.msisdn).where(Subscriber.msisdn.in_(part))))
    services = {code: billing for code, billing in ctx.session.execute(select(Service.code, Service.billing))}
    vas_msisdns = sorted({r.msisdn for r in rows if r.kind == "vas"})
    subs: dict[tuple[str, str], list[_Sub]] = defaultdict(list)
    for part in _slices(vas_msisdns):
        for s in ctx.session.scalars(
            select(Subscription).where(Subscription.msisdn.in_(part), Subscription.billing == "per_use")
        ):
            subs[(s.msisdn, s.service_code)].append(
                _Sub(s.id, s.sp_code, s.price_fen, s.confirmed_at, s.unsubscribed_at, s.payer_msisdn)
            )
    chosen: dict[int, _Sub] = {}
    for r in rows:
        if r.msisdn not in known:
            problems.append((r.line, f"{mask_msisdn(r.msisdn)} is not a subscriber of ours"))
        elif r.used_at > now:
            problems.append((r.line, f"used_at {r.used_at.isoformat()} is in the future"))
        elif r.kind == "vas":
            billing = services.get(r.service_code or "")
            if billing is None:
                problems.append((r.line, f"unknown service {r.service_code}"))
            elif billing != "per_use":
                problems.append((r.line, f"{r.service_code} is {billing}, not per use; monthly fees come from the run"))
            else:
                match = [
                    s
                    for s in subs.get((r.msisdn, r.service_code or ""), [])
                    if s.confirmed_at <= r.used_at and (s.unsubscribed_at is None or r.used_at < s.unsubscribed_at)
                ]
                if not match:
                    problems.append(
                        (
                            r.line,
                            f"{mask_msisdn(r.msisdn)} had no confirmed subscription to {r.service_code} "
                            "at used_at: not chargeable",
                        )
                    )
                elif match[0].price_fen * r.quantity > ctx.settings.max_charge_fen:
                    problems.append(
                        (r.line, f"the charge would be over {ctx.settings.max_charge_fen} fen (MINGBAI_MAX_CHARGE_FEN)")
                    )
                else:
                    chosen[r.line] = match[0]
        if len(problems) >= 20:
            break
    if problems:
        raise UsageFileError(problems)
    return chosen


def _check_seen_before(ctx: Ctx, rows: list[UsageRow]) -> None:
    """A record stored before must say the same as before, else the file is refused before
    anything of it is written (two different uses under one id would make one unprovable)."""
    problems = []
    for part in _slices(rows):
        existing = {
            (u.msisdn, u.record_id): u
            for u in ctx.session.scalars(
                select(UsageRecord).where(
                    tuple_(UsageRecord.msisdn, UsageRecord.record_id).in_([(r.msisdn, r.record_id) for r in part])
                )
            )
        }
        for r in part:
            u = existing.get((r.msisdn, r.record_id))
            if u is not None and (u.used_at, u.kind, u.service_code, u.quantity, u.roaming) != (
                r.used_at,
                r.kind,
                r.service_code,
                r.quantity,
                r.roaming,
            ):
                problems.append((r.line, f"record {r.record_id} was imported before with different content"))
    if problems:
        raise UsageFileError(problems[:20], max(0, len(problems) - 20))


def _insert_records(ctx: Ctx, rows: list[UsageRow], import_id: int) -> set[tuple[str, str]]:
    """Insert what is new; a record seen before must say the same as before, else the file is
    rejected (two different uses under one id would make one of them unprovable)."""
    dialect_insert = _dialect_insert(ctx)
    new: set[tuple[str, str]] = set()
    for part in _slices(rows):
        stmt = (
            dialect_insert(UsageRecord)
            .values(
                [
                    {
                        "msisdn": r.msisdn,
                        "record_id": r.record_id,
                        "used_at": r.used_at,
                        "period": period_at(r.used_at).label,
                        "kind": r.kind,
                        "service_code": r.service_code,
                        "quantity": r.quantity,
                        "roaming": r.roaming,
                        "import_id": import_id,
                    }
                    for r in part
                ]
            )
            .on_conflict_do_nothing(index_elements=["msisdn", "record_id"])
            .returning(UsageRecord.msisdn, UsageRecord.record_id)
        )
        new.update((m, rid) for m, rid in ctx.session.execute(stmt).all())
    old = [r for r in rows if (r.msisdn, r.record_id) not in new]
    problems = []
    for part in _slices(old):
        existing = {
            (u.msisdn, u.record_id): u
            for u in ctx.session.scalars(
                select(UsageRecord).where(
                    tuple_(UsageRecord.msisdn, UsageRecord.record_id).in_([(r.msisdn, r.record_id) for r in part])
                )
            )
        }
        for r in part:
            u = existing[(r.msisdn, r.record_id)]
            if (u.used_at, u.kind, u.service_code, u.quantity, u.roaming) != (
                r.used_at,
                r.kind,
                r.service_code,
                r.quantity,
                r.roaming,
            ):
                problems.append((r.line, f"record {r.record_id} was imported before with different content"))
    if problems:
        raise UsageFileError(problems[:20], max(0, len(problems) - 20))
    return new


def _charge_per_use(ctx: Ctx, rows: list[UsageRow], subs_for: dict[int, _Sub], import_id: int) -> tuple[int, int]:
    """One charge per new VAS record at the subscription's agreed price, and its reminder."""
    if not rows:
        return 0, 0
    dialect_insert = _dialect_insert(ctx)
    now = ctx.now()
    names = dict(
        (
            (code, (sp_name, name))
            for code, name, sp_name in ctx.session.execute(
                select(Service.code, Service.name, Sp.name).join(Sp, Sp.code == Service.sp_code)
            )
        )
    )
    by_key = {}
    inserted: list[tuple[str, int, str]] = []
    for part in _slices(rows):
        values = []
        for r in part:
            sub = subs_for[r.line]
            row = {
                # a gift's use is charged to its gifter, naming whose use it was
                "msisdn": sub.payer_msisdn or r.msisdn,
                "recipient_msisdn": r.msisdn if sub.payer_msisdn else None,
                "id": new_id(),
                "subscription_id": sub.id,
                "service_code": r.service_code,
                "sp_code": sub.sp_code,
                "kind": "per_use",
                "period": period_at(r.used_at).label,
                "usage_ref": r.record_id,
                "amount_fen": sub.price_fen * r.quantity,
                "quantity": r.quantity,
                "batch_id": import_id,
                "created_at": now,
                "occurred_at": r.used_at,
            }
            by_key[(row["msisdn"], row["id"])] = (r, row)
            values.append(row)
        stmt = (
            dialect_insert(Charge)
            .values(values)
            .on_conflict_do_nothing(index_elements=["msisdn", "subscription_id", "period", "usage_ref"])
            .returning(Charge.msisdn, Charge.id, Charge.usage_ref)
        )
        inserted.extend((m, i, ref) for m, i, ref in ctx.session.execute(stmt).all())
    due = reminder_due_at(now)
    reminders = []
    amount = 0
    for msisdn, charge_id, _ref in inserted:
        r, row = by_key[(msisdn, charge_id)]
        amount += row["amount_fen"]
        sp_name, name = names[r.service_code or ""]
        reminders.append(
            {
                "msisdn": msisdn,
                "id": charge_id,
                "sender": ctx.settings.service_number,
                "text": texts.for_recipient(
                    texts.per_use_reminder(
                        r.used_at, sp_name, name, row["amount_fen"], r.quantity, r.service_code or ""
                    ),
                    row["recipient_msisdn"],
                ),
                "kind": MessageKind.CHARGE_REMINDER,  # sent once by its primary key: its id is the charge's
                "segmentation": "concat",
                "status": "queued",
                "created_at": now,
                "due_at": due,
            }
        )
    if reminders:
        ctx.session.execute(insert(OutboundSms), reminders)
    return len(inserted), amount


def _traffic_alerts(ctx: Ctx, rows: list[UsageRow]) -> int:
    """R7 over the data records just added: first use, package thresholds, roaming."""
    if not rows:
        return 0
    added: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # (msisdn, period) → [home, abroad]
    added_count: dict[str, int] = defaultdict(int)
    # the same per Shanghai day: a file holding several days crosses thresholds day by day, and
    # each crossing is its own alert (only what one day crosses at once is said once, for the highest)
    by_day: dict[tuple[str, str], dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in rows:
        added_count[r.msisdn] += 1
        key = (r.msisdn, period_at(r.used_at).label)
        side = 1 if r.roaming == "abroad" else 0
        added[key][side] += r.quantity
        by_day[key][local_date(r.used_at)][side] += r.quantity
    msisdns = sorted({m for m, _ in added})
    periods = sorted({p for _, p in added})
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    used_before: set[str] = set()
    packages: dict[str, str | None] = {}
    abroad = case((UsageRecord.roaming == "abroad", 1), else_=0)
    for part in _slices(msisdns):
        for m, p, is_abroad, kb in ctx.session.execute(
            select(UsageRecord.msisdn, UsageRecord.period, abroad, func.sum(UsageRecord.quantity))
            .where(UsageRecord.msisdn.in_(part), UsageRecord.kind == "data", UsageRecord.period.in_(periods))
            .group_by(UsageRecord.msisdn, UsageRecord.period, abroad)
        ):
            totals[(m, p)][int(is_abroad)] = int(kb)
        # used before: more data records stored than the ones just added (of this or any file)
        for m, n in ctx.session.execute(
            select(UsageRecord.msisdn, func.count())
            .where(UsageRecord.msisdn.in_(part), UsageRecord.kind == "data")
            .group_by(UsageRecord.msisdn)
        ):
            if int(n) > added_count[m]:
                used_before.add(m)
        for m, package_code in ctx.session.execute(
            select(Subscriber.msisdn, Subscriber.package).where(Subscriber.msisdn.in_(part))
        ):
            packages[m] = package_code
    settings = ctx.settings
    sent = 0
    current = period_at(ctx.now()).label
    for (msisdn, period), (home_new, abroad_new) in sorted(added.items()):
        home_after, abroad_after = totals[(msisdn, period)]
        package = find_package(packages.get(msisdn))
        # the month by name once it is over (a file imported late must not say "本月")
        month_zh = None if period == current else parse_billing_period(period).zh
        home, away = home_after - home_new, abroad_after - abroad_new
        used = msisdn in used_before
        for day in sorted(by_day[(msisdn, period)]):
            day_home, day_away = by_day[(msisdn, period)][day]
            for alert in traffic_alerts(
                period=period,
                ever_used_before=used,
                home_before_kb=home,
                home_after_kb=home + day_home,
                abroad_before_kb=away,
                abroad_after_kb=away + day_away,
                allowance_kb=package.data_kb if package else 0,
                percents=settings.traffic_alert_percents,
                roaming_step_kb=settings.roaming_alert_step_mb * 1024,
            ):
                if alert.kind == "first_use":
                    text = texts.data_first_use(package)
                elif alert.kind == "package":
                    assert package is not None
                    text = texts.data_threshold(alert.value, home + day_home, package, month_zh)
                elif alert.kind == "roaming_first":
                    text = texts.roaming_first_use()
                else:
                    text = texts.roaming_step(away + day_away, month_zh)
                kind = MessageKind.TRAFFIC_ALERT
                if enqueue(ctx, msisdn=msisdn, kind=kind, dedupe_key=alert.key, text=text) is not None:
                    sent += 1
            home, away = home + day_home, away + day_away
            used = used or day_home + day_away > 0
    return sent


# -- monthly usage figures ---------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    period: str
    voice_min: int
    sms: int
    data_kb: int
    abroad_data_kb: int
    records: int

    def domestic(self) -> MonthUsage:
        return MonthUsage(self.period, self.voice_min, self.sms, self.data_kb)


def month_figures(ctx: Ctx, msisdn: str, periods: Sequence[str]) -> dict[str, MonthFigures]:
    """Voice minutes (each call rounded up), SMS, data at home and abroad, per month."""
    u = UsageRecord
    minutes = case((u.kind == "voice", (u.quantity + 59) // 60), else_=0)
    sms = case((u.kind == "sms", u.quantity), else_=0)
    home = case(((u.kind == "data") & (u.roaming != "abroad"), u.quantity), else_=0)
    away = case(((u.kind == "data") & (u.roaming == "abroad"), u.quantity), else_=0)
    rows = ctx.session.execute(
        select(u.period, func.sum(minutes), func.sum(sms), func.sum(home), func.sum(away), func.count())
        .where(u.msisdn == msisdn, u.period.in_(list(periods)))
        .group_by(u.period)
    ).all()
    out = {p: MonthFigures(p, 0, 0, 0, 0, 0) for p in periods}
    for p, v, s, h, a, n in rows:
        out[p] = MonthFigures(p, int(v or 0), int(s or 0), int(h or 0), int(a or 0), int(n))
    return out


def mark_alerts(ctx: Ctx, msisdn: str) -> list[str]:
    """The traffic alerts a subscriber has been sent (their dedupe keys), oldest first."""
    return list(
        ctx.session.scalars(
            select(OutboundSms.dedupe_key)
            .where(OutboundSms.msisdn == msisdn, OutboundSms.kind == MessageKind.TRAFFIC_ALERT)
            .order_by(OutboundSms.id)
        )
    )
