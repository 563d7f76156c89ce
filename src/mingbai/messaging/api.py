"""The SMS centre's hook: MOs in, replies out (the embedded handset uses the same path)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mingbai.auth.service import Principal, Role
from mingbai.platform import Platform
from mingbai.web.deps import get_platform, require

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
    platform: Annotated[Platform, Depends(get_platform)],
) -> MoOut:
    result = platform.receive_sms(body.sender, body.to, body.text)
    return MoOut(
        mo_id=result.mo_id,
        handled_as=result.handled_as,
        replies=[SmsOut(to=r.to, sender=r.sender, text=r.text) for r in result.replies],
    )
