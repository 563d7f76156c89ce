"""API shapes for charging (kept apart from the tables and the service results)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from mingbai.charging import service
from mingbai.charging.billing import RunSummary
from mingbai.charging.ledger import CardView
from mingbai.charging.packages import Package
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


class RunOut(RunSummary):  # only the OpenAPI name (see jsonable.recast)
    pass


class ChargeOut(service.ChargeView):  # only the OpenAPI name (see jsonable.recast)
    pass


class ObjectionIn(_In):
    charge_id: int


class ObjectionOut(BaseModel):
    verdict: Literal["accepted", "repeated", "no_charge", "ambiguous"]
    objection_id: int | None
    charge_id: int | None
    stopped: list[str] | None


#: one shape, the service's (the API and the service both call it ObjectionView)
ObjectionView = service.ObjectionView


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


# Empty subclasses of the service dataclasses: one declaration of the fields, and the OpenAPI
# schema keeps its name (see jsonable.recast).


class CardOut(CardView):
    pass


class ActivationIn(_In):
    msisdn: str = Field(min_length=11, max_length=20)
    brand: str = Field(min_length=1, max_length=16, examples=["gotone"])
    province: str = Field(min_length=1, max_length=16)
    city: str | None = Field(default=None, max_length=32)
    package_code: str | None = Field(default=None, max_length=16, examples=["GT58"])


class ActivationOut(service.Activation):
    pass


class PackageOut(Package):
    pass
