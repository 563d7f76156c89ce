"""Reports forwarded to 10086999: accept, link, verify every one, refer, sanction, count.

A subscriber forwards spam to 10086999 (``号码*内容``, or just the text). The report is
accepted at once with an SMS receipt, linked to the registered port or the person sender,
and queued for a person to verify: 100% of reports are verified [002]. A report about a
sender of another province is referred to that province (recorded, exported) instead.
A confirmed report counts against its port or sender; enough of them within the strategy's
window warn, penalise or close the port, or watch or block the sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update

from mingbai.audit import service as audit
from mingbai.catalog.models import Subscriber
from mingbai.clock import local_date, local_midnight
from mingbai.db import Ctx
from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import enqueue
from mingbai.msisdn import is_msisdn, mask_msisdn, normalize_msisdn
from mingbai.spam import service, texts
from mingbai.spam.models import SpamPort, SpamPortEvent, SpamReport, SpamSenderMark
from mingbai.spam.rules import escalated_port_state, escalated_sender_state, parse_report

REPORT_NUMBER = "10086999"
MAX_CONTENT = 2000


@dataclass(frozen=True)
class ReportView:
    id: int
    reporter: str  # masked
    received_at: datetime
    reported_sender: str | None
    sender_kind: str
    content: str
    status: str
    referred_to: str | None
    decided_at: datetime | None
    decided_by: str | None
    note: str | None


def _view(row: SpamReport) -> ReportView:
    sender = row.reported_sender
    if sender is not None and row.sender_kind == "person":
        sender = mask_msisdn(sender)
    return ReportView(
        row.id,
        mask_msisdn(row.msisdn),
        row.received_at,
        sender,
        row.sender_kind,
        row.content,
        row.status,
        row.referred_to,
        row.decided_at,
        row.decided_by,
        row.note,
    )


def _province_of(ctx: Ctx, msisdn: str) -> str | None:
    return ctx.session.scalar(select(Subscriber.province).where(Subscriber.msisdn == msisdn))


def receive_report(ctx: Ctx, *, msisdn: str, text: str, mo_id: int | None = None) -> ReportView | None:
    """Accept one report SMS and send the receipt. An empty report gets the how-to and is
    not recorded (there is nothing to verify)."""
    msisdn = normalize_msisdn(msisdn)
    parsed = parse_report(text)
    if not parsed.content and parsed.sender is None:
        enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.REPORT_HELP, mo_id=mo_id, sender=REPORT_NUMBER)
        return None
    sender = parsed.sender
    kind = "unknown"
    sender_province: str | None = None
    if sender is not None:
        port = ctx.session.get(SpamPort, sender)
        if port is not None:
            kind = "port"
            sender_province = port.province
        elif is_msisdn(sender):
            sender = normalize_msisdn(sender)
            kind = "person"
            sender_province = _province_of(ctx, sender)
        else:
            kind = "other"
        sender = sender[:21]
    reporter_province = _province_of(ctx, msisdn)
    referred = sender_province is not None and reporter_province is not None and sender_province != reporter_province
    report_id = new_id()
    ctx.session.execute(
        insert(SpamReport),
        {
            "msisdn": msisdn,
            "id": report_id,
            "mo_id": mo_id,
            "received_at": ctx.now(),
            "reported_sender": sender,
            "sender_kind": kind,
            "content": parsed.content[:MAX_CONTENT],
            "status": "referred" if referred else "pending",
            "referred_to": sender_province if referred else None,
        },
    )
    receipt = texts.report_referred(report_id, sender_province or "") if referred else texts.report_accepted(report_id)
    enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=receipt, mo_id=mo_id, sender=REPORT_NUMBER)
    return get_report(ctx, report_id)


def _row(ctx: Ctx, report_id: int, *, lock: bool = False) -> SpamReport:
    stmt = select(SpamReport).where(SpamReport.id == report_id)
    if lock:
        stmt = stmt.with_for_update()
    row = ctx.session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"no report {report_id}")
    return row


def get_report(ctx: Ctx, report_id: int) -> ReportView:
    return _view(_row(ctx, report_id))


def list_reports(ctx: Ctx, *, status: str | None = "pending", limit: int = 100) -> list[ReportView]:
    stmt = select(SpamReport).order_by(SpamReport.received_at, SpamReport.id).limit(max(1, min(limit, 1000)))
    if status:
        if status not in ("pending", "confirmed", "rejected", "referred"):
            raise InvalidInput("status must be pending, confirmed, rejected or referred")
        stmt = stmt.where(SpamReport.status == status)
    return [_view(r) for r in ctx.session.scalars(stmt)]


@dataclass(frozen=True)
class Verification:
    report: ReportView
    #: what the confirmation did to the port or sender, e.g. "port 10657… warned"
    sanction: str | None


def decide_report(ctx: Ctx, *, report_id: int, confirm: bool, reviewer: str, note: str | None = None) -> Verification:
    """A person verifies a report. Confirming counts it against the port or sender and may
    escalate a sanction by the active strategy; the reporter is told the outcome."""
    row = _row(ctx, report_id, lock=True)
    if row.status != "pending":
        raise Conflict(f"report {report_id} is {row.status}, not pending")
    now = ctx.now()
    row.status = "confirmed" if confirm else "rejected"
    row.decided_at = now
    row.decided_by = reviewer[:64]
    row.note = (note or "").strip()[:200] or None
    ctx.session.flush()
    sanction = None
    if confirm and row.reported_sender is not None and row.sender_kind in ("port", "person"):
        sanction = _sanction(ctx, row.reported_sender, row.sender_kind, reviewer)
    text = texts.report_confirmed(row.id) if confirm else texts.report_rejected(row.id)
    enqueue(ctx, msisdn=row.msisdn, kind=MessageKind.NOTICE, text=text, sender=REPORT_NUMBER)
    # the verification, and the sanction it escalated to, on the staff member's record
    audit.record_staff(
        ctx,
        actor=reviewer,
        action="spam.report.confirm" if confirm else "spam.report.reject",
        subject=f"report:{report_id}",
        detail={"sanction": sanction or ""},
    )
    return Verification(_view(row), sanction)


def _confirmed_against(ctx: Ctx, sender: str, since: datetime) -> int:
    """Confirmed reports about ``sender`` in the window, one per reporter: a single angry
    subscriber reporting the same port ten times is one voice, not ten."""
    return int(
        ctx.session.scalar(
            select(func.count(SpamReport.msisdn.distinct())).where(
                SpamReport.reported_sender == sender,
                SpamReport.status == "confirmed",
                SpamReport.decided_at >= since,
            )
        )
        or 0
    )


def _sanction(ctx: Ctx, sender: str, kind: str, reviewer: str) -> str | None:
    strategy = service.active_strategy(ctx)
    since = ctx.now() - timedelta(days=strategy.sanction_window_days)
    confirmed = _confirmed_against(ctx, sender, since)
    if kind == "port":
        port = ctx.session.get(SpamPort, sender)
        if port is None:
            return None
        new_state = escalated_port_state(port.state, confirmed, strategy)
        if new_state == port.state:
            return None
        reason = (
            f"confirmed reports from {confirmed} subscribers in {strategy.sanction_window_days} days "
            f"(strategy v{strategy.version})"
        )
        service.set_port_state(ctx, port=sender, state=new_state, reason=reason, actor=f"reports:{reviewer}"[:64])
        return f"port {sender} {new_state}"
    mark = ctx.session.get(SpamSenderMark, sender)
    current = mark.state if mark is not None else None
    new_mark = escalated_sender_state(current, confirmed, strategy)
    if new_mark == current or new_mark is None:
        return None
    reason = (
        f"confirmed reports from {confirmed} subscribers in {strategy.sanction_window_days} days "
        f"(strategy v{strategy.version})"
    )
    if mark is None:
        ctx.session.execute(
            insert(SpamSenderMark),
            {
                "msisdn": sender,
                "state": new_mark,
                "confirmed_reports": confirmed,
                "reason": reason,
                "updated_at": ctx.now(),
            },
        )
    else:
        mark.state = new_mark
        mark.confirmed_reports = confirmed
        mark.reason = reason
        mark.updated_at = ctx.now()
    service.bump_generation(ctx)
    return f"sender {mask_msisdn(sender)} {new_mark}"


def clear_sender(ctx: Ctx, *, msisdn: str, actor: str) -> None:
    """Lift a watch or block on a person sender (after an appeal)."""
    msisdn = normalize_msisdn(msisdn)
    result = ctx.session.execute(
        update(SpamSenderMark)
        .where(SpamSenderMark.msisdn == msisdn)
        .values(state="cleared", reason=f"cleared by {actor}"[:200], updated_at=ctx.now())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"sender {mask_msisdn(msisdn)} is not marked")
    audit.record_staff(ctx, actor=actor, action="spam.sender.clear", subject_msisdn=msisdn)
    service.bump_generation(ctx)


@dataclass(frozen=True)
class Referral:
    report_id: int
    received_at: datetime
    province: str
    reported_sender: str | None
    sender_kind: str
    content: str


def export_referrals(
    ctx: Ctx, *, province: str | None = None, include_exported: bool = False, actor: str = "system"
) -> list[Referral]:
    """Referred reports for the other provinces; marks them exported (so the next export
    carries only new ones unless ``include_exported``)."""
    stmt = select(SpamReport).where(SpamReport.status == "referred").order_by(SpamReport.received_at, SpamReport.id)
    if province:
        stmt = stmt.where(SpamReport.referred_to == province)
    if not include_exported:
        stmt = stmt.where(SpamReport.exported_at.is_(None))
    rows = list(ctx.session.scalars(stmt))
    now = ctx.now()
    for r in rows:
        if r.exported_at is None:
            r.exported_at = now
    ctx.session.flush()
    audit.record_staff(
        ctx,
        actor=actor,
        action="export.referrals",
        subject=f"referrals:{province or 'all'}",
        detail={"reports": len(rows), "include_exported": include_exported},
    )
    return [
        Referral(r.id, r.received_at, r.referred_to or "", r.reported_sender, r.sender_kind, r.content) for r in rows
    ]


@dataclass(frozen=True)
class DayStats:
    day: str
    received: int
    referred: int
    verified: int
    pending: int


@dataclass(frozen=True)
class ReportStats:
    since: str
    until: str
    received: int
    referred: int
    verified: int
    pending: int
    #: verified share of the reports this province must verify (all but referred)
    verified_pct: float
    mean_hours_to_verify: float | None
    max_hours_to_verify: float | None
    confirmed: int
    ports_closed: int
    ports_penalised: int
    ports_warned: int
    blocked_messages: int
    per_day: list[DayStats]


def report_stats(ctx: Ctx, *, since: datetime, until: datetime) -> ReportStats:
    """Reports per day, verified %, time to verify, sanctions, messages blocked."""
    rows = list(
        ctx.session.execute(
            select(SpamReport.received_at, SpamReport.status, SpamReport.decided_at).where(
                SpamReport.received_at >= since, SpamReport.received_at < until
            )
        )
    )
    per_day: dict[str, list[int]] = {}
    hours: list[float] = []
    confirmed = 0
    for received_at, status, decided_at in rows:
        day = local_date(received_at).isoformat()
        counts = per_day.setdefault(day, [0, 0, 0, 0])
        counts[0] += 1
        if status == "referred":
            counts[1] += 1
        elif status in ("confirmed", "rejected"):
            counts[2] += 1
            confirmed += status == "confirmed"
            if decided_at is not None:
                hours.append((decided_at - received_at).total_seconds() / 3600)
        else:
            counts[3] += 1
    received = len(rows)
    referred = sum(c[1] for c in per_day.values())
    verified = sum(c[2] for c in per_day.values())
    own = received - referred
    sanctions = dict(
        ctx.session.execute(
            select(SpamPortEvent.to_state, func.count())
            .where(SpamPortEvent.at >= since, SpamPortEvent.at < until, SpamPortEvent.from_state.is_not(None))
            .group_by(SpamPortEvent.to_state)
        ).all()
    )
    return ReportStats(
        since=since.isoformat(),
        until=until.isoformat(),
        received=received,
        referred=referred,
        verified=verified,
        pending=own - verified,
        verified_pct=round(100.0 * verified / own, 1) if own else 100.0,
        mean_hours_to_verify=round(sum(hours) / len(hours), 2) if hours else None,
        max_hours_to_verify=round(max(hours), 2) if hours else None,
        confirmed=confirmed,
        ports_closed=int(sanctions.get("closed", 0)),
        ports_penalised=int(sanctions.get("penalised", 0)),
        ports_warned=int(sanctions.get("warned", 0)),
        blocked_messages=service.blocked_count(ctx, since=since, until=until),
        per_day=[DayStats(d, c[0], c[1], c[2], c[3]) for d, c in sorted(per_day.items())],
    )


def stats_window(ctx: Ctx, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` Shanghai business days up to now (inclusive of today)."""
    if not 1 <= days <= 366:
        raise InvalidInput("days must be 1–366")
    today = local_date(ctx.now())
    return local_midnight(today - timedelta(days=days - 1)), local_midnight(today + timedelta(days=1))
