"""API shapes for orders and subscriptions (kept apart from the tables)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mingbai.ids import MAX_ID

Channel = Literal["sp", "sms", "web", "wap", "hotline", "hall", "terminal"]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    msisdn: str = Field(min_length=1, max_length=20, examples=["13800138000"])
    service_code: str = Field(min_length=1, max_length=32, examples=["SINA-NEWS"])
    channel: Literal["sp", "web", "wap"] = "sp"
    gifter: str | None = Field(default=None, max_length=20, description="MSISDN of who gives it (gift order)")
    external_ref: str | None = Field(
        default=None, min_length=1, max_length=64, description="Your reference; repeating it returns the same order"
    )


class StaffOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_code: str = Field(min_length=1, max_length=32)
    channel: Literal["hotline", "hall", "terminal", "web", "wap"] | None = None
    gifter: str | None = Field(default=None, max_length=20)


class OrderOut(BaseModel):
    order_id: int
    msisdn: str
    service_code: str
    sp_code: str
    channel: str
    gifter: str | None
    status: Literal["pending", "confirmed", "expired", "failed"]
    price_fen: int
    created_at: datetime
    expires_at: datetime


class SubscriptionOut(BaseModel):
    id: int
    msisdn: str
    service_code: str
    service_name: str
    sp_code: str
    status: str
    channel: str
    gifter: str | None
    billing: str
    price_fen: int
    trial: bool
    ordered_at: datetime
    confirmed_at: datetime
    first_charge_on: date | None
    unsubscribed_at: datetime | None


class EventOut(BaseModel):
    at: datetime
    kind: str
    service_code: str
    actor: str
    channel: str
    order_id: int | None
    subscription_id: int | None
    detail: dict[str, Any] | None


class SubscriptionDetail(BaseModel):
    """The 15 fields of unified query (R5) an agent sees, plus ids and trial dates."""

    id: int
    sp_name: str
    service_code: str
    service_name: str
    order_time: datetime
    service_type: str
    billing_type: str
    price_fen: int
    status: str
    order_channel: str
    change_history: list[EventOut]
    sp_hotline: str
    contact: str | None
    gifter: str | None
    description: str | None
    attributes: dict[str, Any] | None
    confirmed_at: datetime
    first_charge_on: date | None
    unsubscribed_at: datetime | None


class UnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscription_ids: list[Annotated[int, Field(ge=0, le=MAX_ID)]] | None = Field(
        default=None, max_length=500, description="Omit (with all=true) to end every subscription"
    )
    service_code: str | None = Field(default=None, max_length=32)
    all: bool = False


class UnsubscribedOut(BaseModel):
    subscription_id: int
    service_code: str
