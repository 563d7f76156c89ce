"""What the scheduler does for charging (R6): the month's run once it has begun, and the
catch-up pass: a re-order confirmed during the month owes that month's fee at confirmation (see
:func:`mingbai.charging.rules.monthly_skip_reason`); the pass charges those confirmed since the
last look (a watermark per period) with the run's statement, and reminds each by the run's words.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, func, insert, select, text

from mingbai.charging.billing import (
    CHARGE_SAFE,
    RunSummary,
    raise_watermark,
    remind_rows,
    run_billing,
    statement_params,
    summary_of,
    timed_sql,
)
from mingbai.charging.models import BillingRun, BillingWatermark
from mingbai.charging.rules import Period, charge_upper_bound, period_at
from mingbai.db import PlatformLike, UtcDateTime
from mingbai.errors import Conflict
from mingbai.ids import new_id, reserve_ids

#: the catch-up pass looks this far behind its watermark, for confirmations whose transaction
#: read the clock before the last pass and committed after it
CATCHUP_MARGIN = timedelta(minutes=10)


# -- the catch-up pass -------------------------------------------------------------------------


def catch_up(platform: PlatformLike, period: Period, *, actor: str = "scheduler") -> RunSummary | None:
    """Charge re-orders of ``period`` confirmed since the last look. Cheap: it reads only the
    subscriptions confirmed after the period's watermark (the confirmed_at index).

    Recorded as a ``catchup`` run only when it charged something."""
    now = platform.clock.now()
    if period.start > now:
        return None
    upper = charge_upper_bound(period, now + timedelta(microseconds=1))
    with platform.uow() as ctx:
        mark = ctx.session.get(BillingWatermark, period.label)
        since = period.start if mark is None else max(period.start, mark.confirmed_before - CATCHUP_MARGIN)
        if mark is not None and mark.confirmed_before >= period.end:
            return None
        batch_id = new_id()
        p = statement_params(period, batch_id, now, upper, platform.settings)
        p["since"] = since
        window = ctx.session.execute(
            text(
                "SELECT count(*) FROM subscription s WHERE s.confirmed_at >= :since AND s.confirmed_at < :upper"
            ).bindparams(bindparam("since", type_=UtcDateTime), bindparam("upper", type_=UtcDateTime)),
            {"since": since, "upper": upper},
        ).scalar()
        p["base_id"] = reserve_ids(int(window or 0) + 1)
        stmt = timed_sql(
            CHARGE_SAFE.format(where="s.confirmed_at >= :since").replace(
                "ON CONFLICT (msisdn, subscription_id, period, usage_ref) DO NOTHING",
                "ON CONFLICT (msisdn, subscription_id, period, usage_ref) DO NOTHING "
                "RETURNING msisdn, id, service_code, sp_code, amount_fen, recipient_msisdn",
            )
        ).bindparams(bindparam("since", type_=UtcDateTime))
        # RETURNING reports only what was inserted; a row_number() window keeps ids distinct
        rows = ctx.session.execute(stmt, p).all()
        raise_watermark(ctx, period.label, upper)
        if not rows:
            return None
        remind_rows(ctx, period, rows, now)
        ctx.session.execute(
            insert(BillingRun),
            {
                "id": batch_id,
                "period": period.label,
                "mode": "catchup",
                "status": "done",
                "started_at": now,
                "finished_at": now,
                "actor": actor,
                "seen": len(rows),
                "charged": len(rows),
                "amount_fen": sum(int(r.amount_fen) for r in rows),
                "reminders": len(rows),
                "skip_not_monthly": 0,
                "skip_ordered_after_period": 0,
                "skip_unsubscribed_before_period": 0,
                "skip_in_trial": 0,
                "skip_free_of_charge": 0,
                "skip_already_charged": 0,
                "chunks_done": 1,
                "last_msisdn": max(r.msisdn for r in rows),
                "confirmed_before": upper,
            },
        )
        run = ctx.session.get(BillingRun, batch_id)
        assert run is not None
        return summary_of(run)


# -- the scheduler -----------------------------------------------------------------------------


def scheduled(platform: PlatformLike) -> dict[str, int]:
    """What ``Platform.tick`` does for charging: the month's run once it has begun (the 1st at
    00:00 Shanghai, or the first tick after), then the catch-up for this and last month."""
    now = platform.clock.now()
    period = period_at(now)
    out: dict[str, int] = {}
    with platform.uow() as ctx:
        done = ctx.session.scalar(
            select(func.count())
            .select_from(BillingRun)
            .where(BillingRun.period == period.label, BillingRun.mode == "full", BillingRun.status == "done")
        )
    if not done:
        try:
            out["billing_charged"] = run_billing(platform, period, actor="scheduler").charged
        except Conflict:  # another process is running it
            out["billing_charged"] = 0
    caught = 0
    for p in (period.previous(), period):
        result = catch_up(platform, p)
        caught += result.charged if result else 0
    out["billing_catchup"] = caught
    return out
