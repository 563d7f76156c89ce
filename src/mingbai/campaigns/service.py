"""Campaign use cases: plan (one set-based statement), start/pause, release paced slots into the
outbox (one set-based statement per release), and progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, text, update

from mingbai.audit import service as audit
from mingbai.campaigns import rules
from mingbai.campaigns.models import Campaign, CampaignTarget
from mingbai.db import Ctx, UtcDateTime
from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.ids import new_id, reserve_ids
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.models import ON_DEDUPE_KEY, OutboundSms
from mingbai.messaging.rules import ALL_STATES, parse_quiet_hours

_BRAND_IDX = "CASE b.brand WHEN 'easyown' THEN 0 WHEN 'mzone' THEN 1 WHEN 'gotone' THEN 2 ELSE 3 END"
_KIND_IDX = "CASE v.type WHEN 'wap' THEN 0 WHEN 'sms' THEN 1 WHEN 'mms' THEN 2 ELSE 3 END"
_KIND_GROUP = "CASE v.type WHEN 'wap' THEN 'wap' WHEN 'sms' THEN 'sms' WHEN 'mms' THEN 'mms' ELSE 'other' END"

#: every active subscription → (subscriber, batch of seed 004's table); then one target per
#: subscriber and batch, numbered in release order (batch first, sensitive subscribers first)
_PLAN_SQL = f"""
INSERT INTO campaign_target (msisdn, campaign_id, batch_no, seq, kind_group, recent, subscriptions)
SELECT g.msisdn, :cid, g.batch_no, row_number() OVER (ORDER BY g.batch_no, g.msisdn), g.kind_group, g.recent, g.n
FROM (
    SELECT c.msisdn, c.batch_no, c.kind_group, c.recent, count(*) AS n
    FROM (
        SELECT s.msisdn,
               CASE WHEN cnt.n > {rules.SENSITIVE_OVER} THEN {rules.SENSITIVE_BATCH}
                    ELSE 2 + ({_BRAND_IDX}) * 8 + ({_KIND_IDX}) * 2
                         + CASE WHEN s.confirmed_at >= :recent_since THEN 0 ELSE 1 END
               END AS batch_no,
               CASE WHEN cnt.n > {rules.SENSITIVE_OVER} THEN 'all' ELSE {_KIND_GROUP} END AS kind_group,
               CASE WHEN cnt.n > {rules.SENSITIVE_OVER} THEN :false
                    ELSE s.confirmed_at >= :recent_since END AS recent
        FROM subscription s
        JOIN service v ON v.code = s.service_code
        LEFT JOIN subscriber b ON b.msisdn = s.msisdn
        JOIN (SELECT msisdn, count(*) AS n FROM subscription WHERE status = 'active' GROUP BY msisdn) cnt
          ON cnt.msisdn = s.msisdn
        WHERE s.status = 'active'
    ) c
    GROUP BY c.msisdn, c.batch_no, c.kind_group, c.recent
) g
"""

_RELEASE_INNER = f"""
    SELECT t.msisdn, t.batch_no, t.seq, v.reminder_label AS label,
           row_number() OVER (PARTITION BY t.msisdn, t.batch_no ORDER BY s.confirmed_at, s.id) AS rn
    FROM campaign_target t
    JOIN subscription s ON s.msisdn = t.msisdn AND s.status = 'active'
    JOIN service v ON v.code = s.service_code
    WHERE t.campaign_id = :cid AND t.seq > :from_seq AND t.seq <= :to_seq
      AND (t.kind_group = 'all'
           OR ({_KIND_GROUP} = t.kind_group AND (s.confirmed_at >= :recent_since) = t.recent))
"""

#: the subscriptions are read when the slot comes, so an SMS never lists one already cancelled
_RELEASE_SQL = {
    "postgresql": f"""
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, dedupe_key, status, created_at, due_at,
                        bulk, tag, attempt)
SELECT g.msisdn, :base_id + g.seq - :from_seq - 1, :sender, :head || g.items || '。' || :tail, :kind, 'numbered',
       'campaign:' || :cid || ':' || g.batch_no, 'queued', :now,
       :first + ((g.seq - :from_seq - 1) * :spacing) * interval '1 second', true, :tag, 0
FROM (
    SELECT x.msisdn, x.batch_no, x.seq, string_agg(x.rn || '.' || x.label, ';' ORDER BY x.rn) AS items
    FROM ({_RELEASE_INNER}) x
    GROUP BY x.msisdn, x.batch_no, x.seq
) g
{ON_DEDUPE_KEY}
""",
    "sqlite": f"""
INSERT INTO sms_outbox (msisdn, id, sender, text, kind, segmentation, dedupe_key, status, created_at, due_at,
                        bulk, tag, attempt)
SELECT g.msisdn, :base_id + g.seq - :from_seq - 1, :sender, :head || g.items || '。' || :tail, :kind, 'numbered',
       'campaign:' || :cid || ':' || g.batch_no, 'queued', :now,
       strftime('%Y-%m-%d %H:%M:%f', :first, '+' || ((g.seq - :from_seq - 1) * :spacing) || ' seconds') || '000',
       1, :tag, 0
FROM (
    SELECT x.msisdn, x.batch_no, x.seq, group_concat(x.rn || '.' || x.label, ';') AS items
    FROM ({_RELEASE_INNER} ORDER BY t.msisdn, t.batch_no, rn) x
    GROUP BY x.msisdn, x.batch_no, x.seq
) g
WHERE true
{ON_DEDUPE_KEY}
""",
}


def _tag(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


@dataclass(frozen=True)
class PlannedCampaign:
    id: int
    name: str
    planned: int
    rate_per_s: float
    starts_at: datetime
    ends_at: datetime
    #: batch number → SMS planned in it (seed 004's table)
    batches: dict[int, int]
    #: seconds of the window outside the quiet hours
    sending_seconds: float
    #: None, or why the window is too short at this rate
    warning: str | None


#: the longest campaign window accepted
MAX_WINDOW = timedelta(days=366)


def plan_campaign(
    ctx: Ctx,
    *,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    rate_per_s: float | None = None,
    quiet_hours: str | None = None,
    actor: str,
) -> PlannedCampaign:
    """Plan the stock-wide reminder: one target per subscriber and batch, in release order.

    Without a rate, the rate is the one that spreads the plan evenly over the window's sending
    time (outside the quiet hours)."""
    if ends_at <= starts_at:
        raise InvalidInput("the window must end after it starts", code="bad_window")
    if ends_at - starts_at > MAX_WINDOW:
        # seed 004's campaign runs for weeks; a window of centuries is a typo (found by schemathesis:
        # the quiet-hours walk takes a step per boundary, two a day)
        raise InvalidInput("a campaign window is at most 366 days", code="bad_window")
    quiet_text = quiet_hours if quiet_hours is not None else ctx.settings.quiet_hours
    try:
        quiet = parse_quiet_hours(quiet_text)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_quiet_hours") from None
    if rate_per_s is not None and not 0 < rate_per_s <= 100_000:
        raise InvalidInput("rate must be between 0 and 100000 messages per second", code="bad_rate")
    now = ctx.now()
    cid = new_id()
    recent = rules.recent_since(now)
    ctx.session.execute(
        insert(Campaign),
        {
            "id": cid,
            "name": name[:64],
            "status": "planned",
            "starts_at": starts_at,
            "ends_at": ends_at,
            "rate_per_s": rate_per_s or 1.0,
            "quiet_hours": quiet_text,
            "recent_since": recent,
            "planned": 0,
            "released_seq": 0,
            "cursor_at": None,
            "created_at": now,
            "updated_at": now,
            "actor": actor[:64],
        },
    )
    ctx.session.execute(
        text(_PLAN_SQL).bindparams(bindparam("recent_since", type_=UtcDateTime)),
        {"cid": cid, "recent_since": recent, "false": False},
    )
    batches = {
        int(b): int(n)
        for b, n in ctx.session.execute(
            select(CampaignTarget.batch_no, func.count())
            .where(CampaignTarget.campaign_id == cid)
            .group_by(CampaignTarget.batch_no)
            .order_by(CampaignTarget.batch_no)
        )
    }
    planned = sum(batches.values())
    seconds = rules.sending_seconds(starts_at, ends_at, quiet)
    if rate_per_s is None:
        rate_per_s = max(0.01, round(planned / seconds * 1.05, 2)) if seconds > 0 else 1.0
    warning = None
    if seconds <= 0:
        warning = "the window lies entirely in the quiet hours: nothing would be sent"
    elif planned > rate_per_s * seconds:
        warning = (
            f"at {rate_per_s:g}/s the window's {seconds / 3600:.1f} sending hours fit "
            f"{int(rate_per_s * seconds)} of {planned} SMS"
        )
    ctx.session.execute(update(Campaign).where(Campaign.id == cid).values(planned=planned, rate_per_s=rate_per_s))
    audit.record_staff(
        ctx, actor=actor, action="campaign.plan", subject=f"campaign:{cid}", detail={"name": name, "planned": planned}
    )
    return PlannedCampaign(cid, name, planned, rate_per_s, starts_at, ends_at, batches, seconds, warning)


def _get(ctx: Ctx, campaign_id: int) -> Campaign:
    c = ctx.session.get(Campaign, campaign_id)
    if c is None:
        raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")
    return c


def start_campaign(ctx: Ctx, campaign_id: int, *, actor: str = "system") -> None:
    c = _get(ctx, campaign_id)
    if c.status not in ("planned", "paused", "running"):
        raise Conflict(f"campaign {campaign_id} is {c.status}", code="campaign_closed")
    c.status = "running"
    c.updated_at = ctx.now()
    audit.record_staff(ctx, actor=actor, action="campaign.start", subject=f"campaign:{campaign_id}")


def pause_campaign(ctx: Ctx, campaign_id: int, *, actor: str = "system") -> None:
    """Stop handing out slots; SMS already in the outbox still go (they were due)."""
    c = _get(ctx, campaign_id)
    if c.status != "running":
        raise Conflict(f"campaign {campaign_id} is {c.status}, not running", code="campaign_not_running")
    c.status = "paused"
    c.cursor_at = None
    c.updated_at = ctx.now()
    audit.record_staff(ctx, actor=actor, action="campaign.pause", subject=f"campaign:{campaign_id}")


def release_due(ctx: Ctx, *, horizon: timedelta = timedelta(seconds=2)) -> int:
    """Hand the slots now due of every running campaign to the outbox; returns SMS written.

    Safe to call as often as you like: slots are handed out once (the cursor), and an SMS once
    per subscriber and batch (the outbox's dedupe key)."""
    now = ctx.now()
    written = 0
    running = ctx.session.execute(
        select(Campaign).where(Campaign.status == "running").with_for_update()
        if ctx.dialect == "postgresql"
        else select(Campaign).where(Campaign.status == "running")
    ).scalars()
    for c in list(running):
        remaining = c.planned - c.released_seq
        if remaining <= 0:
            c.status, c.updated_at = "done", now
            continue
        if now >= c.ends_at:
            c.status, c.updated_at = "ended", now
            continue
        slots = rules.next_slots(
            now=now,
            cursor=c.cursor_at,
            starts_at=c.starts_at,
            ends_at=c.ends_at,
            rate=c.rate_per_s,
            quiet=parse_quiet_hours(c.quiet_hours),
            horizon=horizon,
            remaining=remaining,
        )
        if slots is None:
            continue
        written += _release(ctx, c, slots, now)
        c.released_seq += slots.count
        c.cursor_at = slots.cursor
        c.updated_at = now
        if c.released_seq >= c.planned:
            c.status = "done"
    return written


def _release(ctx: Ctx, c: Campaign, slots: rules.Slots, now: datetime) -> int:
    sql = text(_RELEASE_SQL["postgresql" if ctx.dialect == "postgresql" else "sqlite"]).bindparams(
        bindparam("recent_since", type_=UtcDateTime),
        bindparam("now", type_=UtcDateTime),
        bindparam("first", type_=UtcDateTime),
    )
    result = ctx.session.execute(
        sql,
        {
            "cid": c.id,
            "from_seq": c.released_seq,
            "to_seq": c.released_seq + slots.count,
            "base_id": reserve_ids(slots.count),
            "sender": ctx.settings.service_number,
            "kind": MessageKind.CAMPAIGN,
            "head": rules.HEAD,
            "tail": rules.TAIL,
            "now": now,
            "first": slots.first,
            "spacing": 1.0 / c.rate_per_s,
            "tag": _tag(c.id),
            "recent_since": c.recent_since,
        },
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CampaignProgress:
    id: int
    name: str
    status: str
    planned: int
    released: int
    #: outbox rows written for it, by state (a released target whose subscriptions all ended writes none)
    counts: dict[str, int]
    starts_at: datetime
    ends_at: datetime
    rate_per_s: float
    quiet_hours: str
    #: why nothing is released now ("quiet_hours", "not_started") and until when; None while releasing
    waiting: str | None = None
    waiting_until: datetime | None = None

    @property
    def written(self) -> int:
        return sum(self.counts.values())

    @property
    def delivered(self) -> int:
        return self.counts.get("delivered", 0)

    @property
    def sent(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in ("queued", "submitting"))


def campaign_progress(ctx: Ctx, campaign_id: int) -> CampaignProgress:
    c = _get(ctx, campaign_id)
    counts = {s: 0 for s in ALL_STATES}
    for status, n in ctx.session.execute(
        select(OutboundSms.status, func.count()).where(OutboundSms.tag == _tag(c.id)).group_by(OutboundSms.status)
    ):
        counts[status] = int(n)
    wait = rules.waiting_reason(
        ctx.now(),
        status=c.status,
        released=c.released_seq,
        planned=c.planned,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        quiet=parse_quiet_hours(c.quiet_hours),
    )
    return CampaignProgress(
        c.id,
        c.name,
        c.status,
        c.planned,
        c.released_seq,
        counts,
        c.starts_at,
        c.ends_at,
        c.rate_per_s,
        c.quiet_hours,
        wait[0] if wait else None,
        wait[1] if wait else None,
    )


def list_campaigns(ctx: Ctx) -> list[Campaign]:
    return list(ctx.session.execute(select(Campaign).order_by(Campaign.id.desc()).limit(100)).scalars())
