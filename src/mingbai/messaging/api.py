"""The SMS centre's hook: MOs in, replies out (the embedded handset uses the same path)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from mingbai.auth.service import Principal, Role
from mingbai.errors import MingbaiError
from mingbai.jsonable import recast
from mingbai.messaging.inbound import MoIntake
from mingbai.messaging.outbox import OldestOpen
from mingbai.web.deps import CtxDep, get_intake, require

router = APIRouter(prefix="/api/v1/sms", tags=["SMS"])


class MoIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: str = Field(alias="from", min_length=1, max_length=20, examples=["13800138000"])
    to: str = Field(min_length=1, max_length=21, examples=["10086"])
    text: str = Field(max_length=20_000, examples=["0000"])


class SmsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    to: str
    sender: str = Field(serialization_alias="from")
    text: str


class MoOut(BaseModel):
    mo_id: int
    handled_as: str
    replies: list[SmsOut]


@router.post(
    "/mo",
    response_model=MoOut,
    response_model_by_alias=True,
    summary="A mobile-originated SMS; returns the replies sent",
)
def receive_mo(
    body: MoIn,
    who: Annotated[Principal, Depends(require(Role.SMSC))],
    intake: Annotated[MoIntake, Depends(get_intake)],
) -> MoOut:
    result = intake.receive(body.sender, body.to, body.text)
    return MoOut(
        mo_id=result.mo_id,
        handled_as=result.handled_as,
        replies=[SmsOut(to=r.to, sender=r.sender, text=r.text) for r in result.replies],
    )


class MoBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[MoIn] = Field(min_length=1, max_length=1000)


class MoRefusedOut(BaseModel):
    error: str = Field(examples=["invalid_msisdn"])
    message: str


class MoBatchOut(BaseModel):
    results: list[MoOut | MoRefusedOut]


@router.post(
    "/mo/batch",
    response_model=MoBatchOut,
    response_model_by_alias=True,
    summary="Up to 1,000 MOs at once, as an SMS centre delivers them under load; one result each, in order",
)
def receive_mo_batch(
    body: MoBatchIn,
    who: Annotated[Principal, Depends(require(Role.SMSC))],
    intake: Annotated[MoIntake, Depends(get_intake)],
) -> MoBatchOut:
    results = intake.receive_many([(m.sender, m.to, m.text) for m in body.messages])
    return MoBatchOut(
        results=[
            MoRefusedOut(error=r.code, message=r.message)
            if isinstance(r, MingbaiError)
            else MoOut(
                mo_id=r.mo_id,
                handled_as=r.handled_as,
                replies=[SmsOut(to=x.to, sender=x.sender, text=x.text) for x in r.replies],
            )
            for r in results
        ]
    )


# only the OpenAPI name of outbox.OldestOpen (see jsonable.recast; a docstring would show in the schema)
class OldestOut(OldestOpen):
    pass


class OutboxStatsOut(BaseModel):
    since: datetime
    counts: dict[str, int]
    delivery_rate: float | None
    oldest_open: OldestOut | None
    orphan_receipts: int


@router.get(
    "/outbox/stats",
    response_model=OutboxStatsOut,
    summary="MTs per state, delivery rate and the oldest undelivered MT (masked)",
)
def outbox_stats(
    who: Annotated[Principal, Depends(require(Role.OPERATOR))],
    ctx: CtxDep,
    hours: Annotated[int, Query(ge=1, le=24 * 31, description="window for counts and delivery rate")] = 24,
) -> OutboxStatsOut:
    from mingbai.messaging.outbox import outbox_stats as stats

    s = stats(ctx, since=ctx.now() - timedelta(hours=hours))
    o = s.oldest_open
    return OutboxStatsOut(
        since=s.since,
        counts=s.counts,
        delivery_rate=s.delivery_rate,
        oldest_open=recast(OldestOut, o) if o else None,
        orphan_receipts=s.orphan_receipts,
    )
