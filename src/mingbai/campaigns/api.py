"""Campaign console API (operator role): plan, start, pause, progress counts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mingbai.campaigns import service
from mingbai.web.deps import CtxDep, Operator, RowId

router = APIRouter(prefix="/api/v1/campaigns", tags=["Campaigns"])


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, examples=["存量订购关系提醒"])
    starts_at: datetime
    ends_at: datetime
    rate_per_s: float | None = Field(default=None, gt=0, le=100_000, description="omit to spread over the window")
    quiet_hours: str | None = Field(default=None, examples=["21:00-08:00"])


class PlanOut(BaseModel):
    id: int
    name: str
    planned: int
    rate_per_s: float
    batches: dict[int, int]
    sending_seconds: float
    warning: str | None


class ProgressOut(BaseModel):
    id: int
    name: str
    status: str
    planned: int
    released: int
    written: int
    sent: int
    delivered: int
    counts: dict[str, int]
    starts_at: datetime
    ends_at: datetime
    rate_per_s: float
    quiet_hours: str


def _progress(p: service.CampaignProgress) -> ProgressOut:
    return ProgressOut(
        id=p.id,
        name=p.name,
        status=p.status,
        planned=p.planned,
        released=p.released,
        written=p.written,
        sent=p.sent,
        delivered=p.delivered,
        counts=p.counts,
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        rate_per_s=p.rate_per_s,
        quiet_hours=p.quiet_hours,
    )


@router.post("", response_model=PlanOut, status_code=201, summary="Plan the stock-wide reminder (seed 004 batches)")
def plan(body: PlanIn, who: Operator, ctx: CtxDep) -> PlanOut:
    p = service.plan_campaign(
        ctx,
        name=body.name,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        rate_per_s=body.rate_per_s,
        quiet_hours=body.quiet_hours,
        actor=who.actor,
    )
    return PlanOut(
        id=p.id,
        name=p.name,
        planned=p.planned,
        rate_per_s=p.rate_per_s,
        batches=p.batches,
        sending_seconds=p.sending_seconds,
        warning=p.warning,
    )


@router.get("", response_model=list[ProgressOut], summary="Campaigns, newest first, with counts")
def list_all(who: Operator, ctx: CtxDep) -> list[ProgressOut]:
    return [_progress(service.campaign_progress(ctx, c.id)) for c in service.list_campaigns(ctx)]


@router.get("/{campaign_id}", response_model=ProgressOut, summary="Progress: planned, released, sent, delivered")
def progress(campaign_id: RowId, who: Operator, ctx: CtxDep) -> ProgressOut:
    return _progress(service.campaign_progress(ctx, campaign_id))


@router.post("/{campaign_id}/start", response_model=ProgressOut, summary="Start or resume sending")
def start(campaign_id: RowId, who: Operator, ctx: CtxDep) -> ProgressOut:
    service.start_campaign(ctx, campaign_id, actor=who.actor)
    return _progress(service.campaign_progress(ctx, campaign_id))


@router.post("/{campaign_id}/pause", response_model=ProgressOut, summary="Pause: no new slots are handed out")
def pause(campaign_id: RowId, who: Operator, ctx: CtxDep) -> ProgressOut:
    service.pause_campaign(ctx, campaign_id, actor=who.actor)
    return _progress(service.campaign_progress(ctx, campaign_id))
