"""A synthetic population for benchmarks and kill tests, written set-based (generate_series on
PostgreSQL, a recursive CTE on SQLite), and a fingerprint of what a billing run produced.

Shape, for a period P: 40 services of 10 SPs (15 of every 20 monthly, 3 per use, 2 free);
subscriptions spread over subscribers in MSISDN order; of every 10 subscriptions one is in its
free trial, one was unsubscribed before P began and one just after (still owing P). About 60%
of all subscriptions therefore owe P's fee, as in the issue's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.types import Date

from mingbai.charging.rules import Period
from mingbai.db import UtcDateTime
from mingbai.messaging.kinds import MessageKind

FIRST_MSISDN = 13_000_000_000
SERVICES = 40


def _series(dialect: str, name: str, count: str) -> str:
    if dialect == "postgresql":
        return f"generate_series(0, {count} - 1) AS {name}(v)"
    recursive = f"WITH RECURSIVE s(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM s WHERE v + 1 < {count})"
    return f"({recursive} SELECT v FROM s) {name}"


def populate(conn: Connection, *, subscriptions: int, subscribers: int, period: Period) -> None:
    """Write SPs, services, subscribers and subscriptions (ids 1…n) in the caller's transaction."""
    if not 0 < subscribers <= subscriptions:
        raise ValueError("need 0 < subscribers <= subscriptions")
    d = conn.dialect.name
    now = period.start - timedelta(days=120)
    conn.execute(
        text(f"""
INSERT INTO sp (code, name, hotline, contact, access_number, status, credit_points, created_at, updated_at)
SELECT 'SIM' || (g.v + 1), '模拟SP' || (g.v + 1), '40080' || (10000 + g.v), NULL, NULL, 'active', 100, :now, :now
FROM {_series(d, "g", "10")}""").bindparams(bindparam("now", type_=UtcDateTime)),
        {"now": now},
    )
    conn.execute(
        text(f"""
INSERT INTO service (code, sp_code, name, type, billing, price_fen, description, attributes, scope, status,
                     mo_keyword, reminder_label, created_at, updated_at)
SELECT 'SIM-' || g.v, 'SIM' || (g.v % 10 + 1), '模拟业务' || g.v, 'sms',
       CASE WHEN g.v % 20 < 15 THEN 'monthly' WHEN g.v % 20 < 18 THEN 'per_use' ELSE 'free' END,
       CASE WHEN g.v % 20 < 18 THEN 100 * (g.v % 10 + 1) + (g.v % 3) * 50 ELSE 0 END,
       NULL, NULL, 'national', 'active', NULL, '模拟业务' || g.v, :now, :now
FROM {_series(d, "g", str(SERVICES))}""").bindparams(bindparam("now", type_=UtcDateTime)),
        {"now": now},
    )
    conn.execute(
        text(f"""
INSERT INTO subscriber (msisdn, brand, province, city, package, status, created_at, updated_at)
SELECT CAST({FIRST_MSISDN} + k.v AS TEXT), 'gotone', '湖南', NULL, NULL, 'active', :now, :now
FROM {_series(d, "k", ":subscribers")}""").bindparams(bindparam("now", type_=UtcDateTime)),
        {"now": now, "subscribers": subscribers},
    )
    conn.execute(
        text(f"""
INSERT INTO subscription (msisdn, id, service_code, sp_code, order_id, channel, gifter, status, billing, price_fen,
                          trial, first_charge_on, ordered_at, confirmed_at, unsubscribed_at, unsubscribe_channel)
SELECT CAST({FIRST_MSISDN} + (CAST(i.v AS BIGINT) * :subscribers / :subscriptions) AS TEXT), i.v + 1,
       svc.code, svc.sp_code, i.v + 1, 'sp', NULL,
       CASE WHEN i.v % 10 IN (3, 5) THEN 'unsubscribed' ELSE 'active' END,
       svc.billing, svc.price_fen, i.v % 10 = 7,
       CASE WHEN svc.billing = 'free' THEN NULL WHEN i.v % 10 = 7 THEN :trial_first ELSE :old_first END,
       CASE WHEN i.v % 10 = 7 THEN :trial_at ELSE :old_at END,
       CASE WHEN i.v % 10 = 7 THEN :trial_at ELSE :old_at END,
       CASE WHEN i.v % 10 = 3 THEN :unsub_before WHEN i.v % 10 = 5 THEN :unsub_after ELSE NULL END,
       CASE WHEN i.v % 10 IN (3, 5) THEN 'sms' ELSE NULL END
FROM {_series(d, "i", ":subscriptions")}
JOIN service svc ON svc.code = 'SIM-' || (i.v % {SERVICES})""").bindparams(
            bindparam("trial_first", type_=Date),
            bindparam("old_first", type_=Date),
            bindparam("trial_at", type_=UtcDateTime),
            bindparam("old_at", type_=UtcDateTime),
            bindparam("unsub_before", type_=UtcDateTime),
            bindparam("unsub_after", type_=UtcDateTime),
        ),
        {
            "subscriptions": subscriptions,
            "subscribers": subscribers,
            "trial_first": period.next_first_day,
            "old_first": (period.start - timedelta(days=100)).date(),
            "trial_at": period.start - timedelta(days=7),
            "old_at": period.start - timedelta(days=100),
            "unsub_before": period.start - timedelta(days=3),
            "unsub_after": period.start + timedelta(minutes=1),
        },
    )


@dataclass(frozen=True)
class Fingerprint:
    """What a run produced, independent of ids and timing: every charge with its reminder."""

    charges: int
    reminders: int
    amount_fen: int
    #: charges whose reminder is missing, or reminders without their charge
    unmatched: int
    #: (msisdn, subscription, amount, reminder text) rows, when small enough to hold
    rows: frozenset[tuple[str, int, int, str]] | None


def fingerprint(conn: Connection, period: str, *, keep_rows: bool = True) -> Fingerprint:
    n, amount = conn.execute(
        text("SELECT count(*), coalesce(sum(amount_fen), 0) FROM charge WHERE period = :p AND kind = 'monthly'"),
        {"p": period},
    ).one()
    reminders = conn.execute(
        text(
            "SELECT count(*) FROM sms_outbox o JOIN charge c "
            "ON c.msisdn = o.msisdn AND o.id = c.id AND o.kind = :reminder "
            "WHERE c.period = :p AND c.kind = 'monthly'"
        ),
        {"p": period, "reminder": MessageKind.CHARGE_REMINDER},
    ).scalar_one()
    orphans = conn.execute(
        text(
            "SELECT count(*) FROM sms_outbox o WHERE o.kind = :reminder AND NOT EXISTS "
            "(SELECT 1 FROM charge c WHERE c.msisdn = o.msisdn AND o.id = c.id AND o.kind = :reminder)"
        ),
        {"reminder": MessageKind.CHARGE_REMINDER},
    ).scalar_one()
    rows = None
    if keep_rows:
        rows = frozenset(
            (m, int(s), int(a), t)
            for m, s, a, t in conn.execute(
                text(
                    "SELECT c.msisdn, c.subscription_id, c.amount_fen, o.text FROM charge c "
                    "LEFT JOIN sms_outbox o ON o.msisdn = c.msisdn AND o.id = c.id AND o.kind = :reminder "
                    "WHERE c.period = :p AND c.kind = 'monthly'"
                ),
                {"p": period, "reminder": MessageKind.CHARGE_REMINDER},
            )
        )
    return Fingerprint(int(n), int(reminders), int(amount), int(n) - int(reminders) + int(orphans), rows)


def forget_period(conn: Connection, period: str) -> None:
    """Delete a period's monthly charges, their reminders and runs (to bill it again from scratch)."""
    conn.execute(
        text(
            "DELETE FROM sms_outbox WHERE kind = :reminder AND EXISTS (SELECT 1 FROM charge c "
            "WHERE c.msisdn = sms_outbox.msisdn AND sms_outbox.id = c.id AND c.period = :p)"
        ),
        {"p": period, "reminder": MessageKind.CHARGE_REMINDER},
    )
    conn.execute(text("DELETE FROM charge WHERE period = :p AND kind = 'monthly'"), {"p": period})
    conn.execute(text("DELETE FROM billing_run WHERE period = :p"), {"p": period})
    conn.execute(text("DELETE FROM billing_watermark WHERE period = :p"), {"p": period})
