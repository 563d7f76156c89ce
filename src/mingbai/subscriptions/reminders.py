"""Scheduled subscription work: expiring unanswered orders and the 21st–25th reminder (R4).

Both are set-based SQL: one statement over all due rows, not a loop over them, so a
province's month fits in minutes. Both are idempotent: a rerun finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, text, update

from mingbai.clock import SHANGHAI, in_quiet_hours, local_date, local_midnight, month_start, next_month_start, period_of
from mingbai.db import Ctx, UtcDateTime
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.models import ON_DEDUPE_KEY
from mingbai.subscriptions.events import EventKind
from mingbai.subscriptions.models import Order
from mingbai.subscriptions.shared import event_row, record_events
from mingbai.subscriptions.texts import monthly_reminder_head, monthly_reminder_tail

#: the seed's second reminder goes out on the 21st–25th of each month
MONTHLY_REMINDER_DAYS = range(21, 26)


def expire_due(ctx: Ctx) -> int:
    """Close orders whose code lifetime has passed; each gets an ``order_expired`` event."""
    now = ctx.now()
    expired = ctx.session.execute(
        update(Order)
        .where(Order.status == "pending", Order.expires_at <= now)
        .values(status="expired", decided_at=now)
        .returning(Order.msisdn, Order.id, Order.service_code, Order.channel)
    ).all()
    record_events(
        ctx,
        [
            event_row(
                ctx,
                msisdn=r.msisdn,
                kind=EventKind.ORDER_EXPIRED,
                service_code=r.service_code,
                actor="system",
                channel=r.channel,
                order_id=r.id,
            )
            for r in expired
        ],
    )
    return len(expired)


def monthly_reminder_due(now: datetime) -> bool:
    local = now.astimezone(SHANGHAI)
    return local.day in MONTHLY_REMINDER_DAYS and not in_quiet_hours(local.time())  # like every bulk SMS


_MONTHLY_SQL = {
    "postgresql": f"""
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, dedupe_key, status, created_at, due_at)
SELECT g.msisdn, :base_id, :sender,
       :head || g.items || '。' || :tail, :kind, 'numbered', :dedupe, 'queued', :now, :now
FROM (
    SELECT s.msisdn, string_agg(s.rn || '.' || s.label, ';' ORDER BY s.rn) AS items
    FROM (
        SELECT sub.msisdn, svc.reminder_label AS label,
               row_number() OVER (PARTITION BY sub.msisdn ORDER BY sub.confirmed_at, sub.id) AS rn
        FROM subscription sub JOIN service svc ON svc.code = sub.service_code
        WHERE sub.status = 'active' AND sub.billing = 'monthly'
          AND sub.confirmed_at >= :start AND sub.confirmed_at < :end
    ) s
    GROUP BY s.msisdn
) g
{ON_DEDUPE_KEY}
""",
    "sqlite": f"""
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, dedupe_key, status, created_at, due_at)
SELECT g.msisdn, :base_id, :sender,
       :head || g.items || '。' || :tail, :kind, 'numbered', :dedupe, 'queued', :now, :now
FROM (
    SELECT s.msisdn, group_concat(s.rn || '.' || s.label, ';') AS items
    FROM (
        SELECT sub.msisdn, svc.reminder_label AS label,
               row_number() OVER (PARTITION BY sub.msisdn ORDER BY sub.confirmed_at, sub.id) AS rn
        FROM subscription sub JOIN service svc ON svc.code = sub.service_code
        WHERE sub.status = 'active' AND sub.billing = 'monthly'
          AND sub.confirmed_at >= :start AND sub.confirmed_at < :end
        ORDER BY sub.msisdn, rn
    ) s
    GROUP BY s.msisdn
) g
WHERE true
{ON_DEDUPE_KEY}
""",
}


@dataclass(frozen=True)
class ReminderPass:
    period: str
    written: int


def send_monthly_reminders(ctx: Ctx, *, day: date | None = None) -> ReminderPass:
    """Write the "(1/2)…(2/2)" reminder for every subscriber with monthly orders this month.

    One outbox row per subscriber (the gateway cuts it into numbered parts), deduplicated by
    ``monthly:YYYY-MM``: a second pass in the same month writes nothing.
    """
    now = ctx.now()
    day = day or local_date(now)
    start, end = month_start(day), next_month_start(day)
    period = period_of(day)
    sql = text(_MONTHLY_SQL["postgresql" if ctx.dialect == "postgresql" else "sqlite"]).bindparams(
        bindparam("start", type_=UtcDateTime),
        bindparam("end", type_=UtcDateTime),
        bindparam("now", type_=UtcDateTime),
    )
    result = ctx.session.execute(
        sql,
        {
            # one row per subscriber, so one fresh id serves them all: the key is (msisdn, id)
            "base_id": new_id(),
            "sender": ctx.settings.service_number,
            "head": monthly_reminder_head(),
            "tail": monthly_reminder_tail(),
            "kind": MessageKind.MONTHLY_REMINDER,
            "dedupe": f"monthly:{period}",
            "now": now,
            "start": local_midnight(start),
            "end": min(local_midnight(end), now),
        },
    )
    return ReminderPass(period, int(result.rowcount or 0))  # type: ignore[attr-defined]
