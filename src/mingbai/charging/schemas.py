"""API shapes for charging (kept apart from the tables and the service results)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from mingbai.charging.rules import parse_billing_period


def _real_month(value: str) -> str:
    # the pattern alone lets 2026-13 through to the database layer (a 500 before issue 12)
    return parse_billing_period(value).label


#: "YYYY-MM", a month that exists, wherever a period is accepted (body or query)
BillingPeriod = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-04"]), AfterValidator(_real_month)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RunIn(_In):
    period: BillingPeriod
    chunk_size: StrictInt = Field(default=50_000, ge=1, le=1_000_000)


class RunOut(BaseModel):
    run_id: int
    period: str
    mode: Literal["full", "catchup"]
    status: str
    actor: str
    started_at: datetime
    finished_at: datetime | None
    seen: int
    charged: int
    amount_fen: int
    reminders: int
    skipped: dict[str, int]
    chunks: int
    last_msisdn: str | None


class ChargeOut(BaseModel):
    id: int
    msisdn: str
    service_code: str
    service_name: str
    sp_code: str
    sp_name: str
    kind: Literal["monthly", "per_use"]
    period: str
    amount_fen: int
    quantity: int
    created_at: datetime
    occurred_at: datetime
    usage_ref: str
    subscription_id: int
    objected: bool


class ObjectionIn(_In):
    charge_id: int


class ObjectionOut(BaseModel):
    verdict: Literal["accepted", "repeated", "no_charge", "ambiguous"]
    objection_id: int | None
    charge_id: int | None
    stopped: list[str] | None


class ObjectionView(BaseModel):
    id: int
    msisdn: str
    charge_id: int
    subscription_id: int
    service_code: str
    sp_code: str
    amount_fen: int
    period: str
    objected_at: datetime
    channel: str
    actor: str
    mo_id: int | None
    status: str


class UsageImportOut(BaseModel):
    import_id: int
    filename: str
    records: int
    new_records: int
    charges: int
    amount_fen: int
    alerts: int
    already_imported: bool


class CardRechargeIn(_In):
    card_no: str = Field(min_length=10, max_length=20, pattern=r"^\d+$")


class PaymentIn(_In):
    amount_fen: StrictInt = Field(gt=0, le=10_000_000)
    ref: str = Field(min_length=1, max_length=64, description="Receipt or bank reference; repeating it credits once")


class CreditIn(_In):
    kind: Literal["gift", "return", "refund"]
    amount_fen: StrictInt = Field(gt=0, le=10_000_000)
    ref: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=200)


class CreditOut(BaseModel):
    id: int
    msisdn: str
    kind: str
    amount_fen: int
    at: datetime
    channel: str
    ref: str | None
    note: str | None
    created: bool


class BalanceOut(BaseModel):
    msisdn: str
    at: datetime
    balance_fen: int
    owed_fen: int
    credits_fen: int
    charges_fen: int
    points: int
    owed_by_charge: dict[str, int]


class CardsIn(_In):
    card_numbers: list[str] = Field(min_length=1, max_length=10_000)
    face_value_fen: StrictInt = Field(gt=0, le=10_000_000)
    issued_on: date
    printed_expiry: date | None = Field(default=None, description="Only for cards issued before 2012-01-01")


class CardOut(BaseModel):
    card_no: str
    face_value_fen: int
    issued_on: date
    expires_on: date
    status: str


class ActivationIn(_In):
    msisdn: str = Field(min_length=11, max_length=20)
    brand: str = Field(min_length=1, max_length=16, examples=["gotone"])
    province: str = Field(min_length=1, max_length=16)
    city: str | None = Field(default=None, max_length=32)
    package_code: str | None = Field(default=None, max_length=16, examples=["GT58"])


class ActivationOut(BaseModel):
    msisdn: str
    brand: str
    package_code: str | None
    reminder_outbox_id: int | None


class PackageOut(BaseModel):
    code: str
    name: str
    monthly_fee_fen: int
    voice_min: int
    sms: int
    data_mb: int
    voice_fen_per_min: int
    sms_fen_each: int
    data_fen_per_mb: int
