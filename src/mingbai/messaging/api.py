"""The SMS centre's hook: MOs in, replies out (the embedded handset uses the same path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

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


@dataclass(frozen=True)
class RefusedMo:
    """A batch item that is not an MO we can take (half an emoji, a missing field): answered alone."""

    code: str
    message: str


def _each_alone(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # one bad item must not cost the others their answer, nor make an SMSC resend the lot forever
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
        return handler(value)
    items: list[MoIn | RefusedMo] = []
    for raw in value:
        try:
            items.append(MoIn.model_validate(raw))
        except ValidationError as exc:
            items.append(_refusal(exc))
    return items


def _refusal(exc: ValidationError) -> RefusedMo:
    problems = exc.errors(include_input=False, include_url=False)
    if any(p["type"] == "string_unicode" for p in problems):
        return RefusedMo("invalid_text", "the text is not valid Unicode (half of a character, e.g. of an emoji)")
    where = ", ".join(f"{'.'.join(map(str, p['loc'])) or 'item'}: {p['msg']}" for p in problems)
    return RefusedMo("invalid_mo", where)


MAX_BATCH = 1000


class MoBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: Annotated[list[MoIn], WrapValidator(_each_alone)] = Field(min_length=1, max_length=MAX_BATCH)


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
    items = cast(list[MoIn | RefusedMo], body.messages)
    good = [m for m in items if isinstance(m, MoIn)]
    handled = iter(intake.receive_many([(m.sender, m.to, m.text) for m in good]))
    results: list[MoOut | MoRefusedOut] = []
    for item in items:
        r = RefusedMo(item.code, item.message) if isinstance(item, RefusedMo) else next(handled)
        if isinstance(r, RefusedMo | MingbaiError):
            results.append(MoRefusedOut(error=r.code, message=r.message))
        else:
            replies = [SmsOut(to=x.to, sender=x.sender, text=x.text) for x in r.replies]
            results.append(MoOut(mo_id=r.mo_id, handled_as=r.handled_as, replies=replies))
    return MoBatchOut(results=results)


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
