"""API shapes for disputes: the inputs, and the service results under their API names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mingbai.disputes.audit import ConsentAudit
from mingbai.disputes.service import DisputeView, PolicyView, SpRefund
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


# the outputs are the service's own results, given their API names (see jsonable.recast)
class DisputeOut(DisputeView):
    pass


class PolicyOut(PolicyView):
    pass


class SpRefundOut(SpRefund):
    pass


class ConsentAuditOut(ConsentAudit):
    pass
