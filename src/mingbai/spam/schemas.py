"""API shapes of the spam capability (kept apart from the tables)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mingbai.spam.reports import ReportView
from mingbai.spam.service import PortEventView, PortView, ReviewItem
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


# One shape each: the service's dataclass. These subclasses only keep the OpenAPI schema names.


class ReviewOut(ReviewItem):
    pass


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Literal["spam", "ham"]


class ReportOut(ReportView):
    pass


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


class PortOut(PortView):
    pass


class PortStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["active", "warned", "penalised", "closed"]
    reason: str = Field(min_length=1, max_length=200)


class PortEventOut(PortEventView):
    pass


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
