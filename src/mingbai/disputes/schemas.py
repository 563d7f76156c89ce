"""API shapes for disputes (kept apart from the tables and the service results)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mingbai.ids import MAX_ID

IdField = Field(ge=1, le=MAX_ID)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DisputeIn(_In):
    """One charge, several, or (``subscription_id``) every charge of a subscription since its order."""

    charge_ids: list[int] | None = Field(default=None, min_length=1, max_length=500)
    subscription_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    words: str | None = Field(default=None, max_length=500, description="The subscriber's own words")
    keep_service: bool = Field(default=False, description="The subscriber keeps the service (else it stops)")
    request_ref: str | None = Field(
        default=None, min_length=1, max_length=64, description="A replay with the same reference posts nothing new"
    )


class DecisionIn(_In):
    outcome: Literal["verified_legitimate", "not_verifiable"]
    discretionary_refund: bool = False
    reason: str | None = Field(default=None, max_length=200)


class PolicyIn(_In):
    category: str = Field(min_length=1, max_length=16, examples=["sms", "*"])
    policy: Literal["confirm_first", "refund_first"]
    reason: str | None = Field(default=None, max_length=200)


class ItemOut(BaseModel):
    charge_id: int
    subscription_id: int
    service_code: str
    sp_code: str
    category: str
    period: str
    amount_fen: int
    rule: str | None
    refund_fen: int
    return_fen: int
    sp_owes_fen: int
    evidence: dict[str, Any]


class DisputeOut(BaseModel):
    id: int
    msisdn: str
    status: Literal["verifying", "decided"]
    rule: str | None
    refund_fen: int
    return_fen: int
    policy: str
    channel: str
    actor: str
    words: str | None
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    outcome: str | None
    discretionary: bool
    discretionary_reason: str | None
    kept_service: bool
    items: list[ItemOut]
    replayed: bool
    evidence: list[dict[str, Any]]


class PolicyOut(BaseModel):
    category: str
    policy: str
    set_at: datetime
    actor: str
    reason: str | None


class SpRefundOut(BaseModel):
    dispute_id: int
    msisdn: str
    charge_id: int
    service_code: str
    period: str
    amount_fen: int
    rule: str | None
    refund_fen: int
    return_fen: int
    sp_owes_fen: int
    decided_at: datetime | None


class ConsentAuditOut(BaseModel):
    charges_checked: int
    orphan_count: int
    orphans: list[dict[str, Any]]
