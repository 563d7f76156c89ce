"""API shapes of the spam capability (kept apart from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mingbai.text import StorableText

PortType = Literal["person", "industry", "international"]


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(pattern=r"^\+?\d{3,20}$", examples=["13800138000", "1065750012345"])
    recipient: str = Field(pattern=r"^\+?\d{3,20}$", examples=["13900139000"])
    text: StorableText = Field(max_length=10_000)
    port_type: PortType = "person"


class CheckOut(BaseModel):
    verdict: Literal["block", "review", "pass"]
    score: float
    reasons: list[str]
    strategy_version: int
    model_version: str


class CheckBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[CheckIn] = Field(min_length=1, max_length=1000)


class ReviewOut(BaseModel):
    id: int
    sender: str
    recipient: str
    port_type: str
    text: str
    score: float
    reasons: list[str]
    strategy_version: int
    created_at: datetime
    status: str
    label: str | None


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Literal["spam", "ham"]


class ReportOut(BaseModel):
    id: int
    reporter: str
    received_at: datetime
    reported_sender: str | None
    sender_kind: str
    content: str
    status: str
    referred_to: str | None
    decided_at: datetime | None
    decided_by: str | None
    note: str | None


class ReportDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(description="true: verified spam (counts against the sender); false: not spam")
    note: str | None = Field(default=None, max_length=200)


class VerificationOut(BaseModel):
    report: ReportOut
    sanction: str | None


NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class PortIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: str = Field(pattern=r"^\d{3,21}$", examples=["1065750012345"])
    # names: printable text only (a NUL, for one, cannot even be stored by PostgreSQL)
    owner: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL)
    signature: str = Field(min_length=1, max_length=26, pattern=NO_CONTROL, examples=["工商银行"])
    province: str | None = Field(default=None, min_length=1, max_length=16, pattern=NO_CONTROL)


class PortOut(BaseModel):
    port: str
    owner: str
    signature: str
    province: str | None
    state: str
    updated_at: datetime


class PortStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["active", "warned", "penalised", "closed"]
    reason: str = Field(min_length=1, max_length=200)


class PortEventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    reason: str
    actor: str


class StrategyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(default_factory=dict, description="settings laid over the base version")
    base_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    note: str | None = Field(default=None, max_length=500)
    activate: bool = False


class StrategyOut(BaseModel):
    version: int
    active: bool
    config: dict[str, Any]
