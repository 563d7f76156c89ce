"""REST routes for charging, and the bill as an HTML page.

Roles: operators run billing and import usage; agents (10086) and hall clerks read charges,
bills, balances and advice and record objections; hall clerks also take payments and activate
numbers; an SP sees only its own charges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from mingbai.auth.service import STAFF_CHANNEL, Principal, Role
from mingbai.catalog.rules import yuan
from mingbai.catalog.service import get_subscriber
from mingbai.charging import billing, ledger, service
from mingbai.charging.bill import Bill, SubscriberAdvice, advise_subscriber, bill
from mingbai.charging.packages import PACKAGES
from mingbai.charging.rules import parse_billing_period
from mingbai.charging.schemas import (
    ActivationIn,
    ActivationOut,
    BalanceOut,
    BillingPeriod,
    CardOut,
    CardRechargeIn,
    CardsIn,
    ChargeOut,
    CreditIn,
    CreditOut,
    ObjectionIn,
    ObjectionOut,
    ObjectionView,
    PackageOut,
    PaymentIn,
    RunIn,
    RunOut,
    UsageImportOut,
)
from mingbai.charging.usage import import_usage
from mingbai.clock import SHANGHAI
from mingbai.errors import InvalidInput
from mingbai.jsonable import jsonable, recast
from mingbai.msisdn import mask_msisdn, normalize_msisdn
from mingbai.web.deps import CtxDep, FrontLine, Operator, PlatformDep, SpOnly, Staff, require, viewed

router = APIRouter(prefix="/api/v1")

Hall = Annotated[Principal, Depends(require(Role.HALL, Role.OPERATOR))]
PeriodQ = Annotated[BillingPeriod | None, Query()]

#: the bill's style: a static file under the CSP, inlined into the standalone ``mingbai bill --html`` file
BILL_CSS = Path(__file__).parent.parent / "web" / "static" / "bill.css"
templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "web" / "templates"))
templates.env.filters["yuan"] = lambda fen: yuan(int(fen))
templates.env.filters["local_time"] = lambda dt: dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
templates.env.filters["masked"] = mask_msisdn
# a recharge card's number is shown by its last four digits; any other reference (a payment's) in full
templates.env.filters["card"] = lambda ref: ("…" + ref[-4:] if len(ref) > 8 else ref) if ref else ""
# the bill names channels in Chinese: the edges that render it (web/app.py, `mingbai bill --html`) set this
# filter to the consoles' words; capabilities do not import the consoles
templates.env.filters["channel"] = str


def _period(value: str) -> str:
    try:
        return parse_billing_period(value).label
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_period") from None


# -- billing runs and usage ----------------------------------------------------------------------


@router.post("/billing/runs", response_model=RunOut, tags=["Charging"], summary="Run a month's billing (idempotent)")
def start_run(body: RunIn, who: Operator, platform: PlatformDep) -> RunOut:
    period = parse_billing_period(_period(body.period))
    summary = billing.run_billing(platform, period, actor=who.actor, chunk_size=body.chunk_size)
    return recast(RunOut, summary)


@router.get("/billing/runs", response_model=list[RunOut], tags=["Charging"], summary="Billing runs with their figures")
def runs(who: Operator, ctx: CtxDep, period: PeriodQ = None) -> list[RunOut]:
    return [recast(RunOut, r) for r in billing.list_runs(ctx, period=period)]


@router.post(
    "/usage/imports",
    response_model=UsageImportOut,
    status_code=status.HTTP_201_CREATED,
    tags=["Charging"],
    summary="Import a usage CSV (docs/usage-csv.md) as the request body; whole or not at all",
)
def usage_import(
    data: Annotated[bytes, Body(media_type="text/csv")],
    who: Operator,
    ctx: CtxDep,
    x_filename: Annotated[str | None, Header(max_length=200)] = None,
) -> UsageImportOut:
    report = import_usage(ctx, data, filename=x_filename or "upload.csv", actor=who.actor)
    return UsageImportOut.model_validate(jsonable(report))


# -- charges and objections ------------------------------------------------------------------------


@router.get(
    "/subscribers/{msisdn}/charges",
    response_model=list[ChargeOut],
    tags=["Charging"],
    summary="A subscriber's charges (monthly and per use), oldest first",
)
def subscriber_charges(msisdn: str, who: Staff, ctx: CtxDep, period: PeriodQ = None) -> list[ChargeOut]:
    get_subscriber(ctx, msisdn)
    viewed(ctx, who, msisdn, "charges")
    return [recast(ChargeOut, c) for c in service.list_charges(ctx, msisdn=msisdn, period=period)]


@router.get("/charges", response_model=list[ChargeOut], tags=["SP"], summary="Your charges for one subscriber")
def sp_charges(
    who: SpOnly, ctx: CtxDep, msisdn: Annotated[str, Query(min_length=1, max_length=20)], period: PeriodQ = None
) -> list[ChargeOut]:
    viewed(ctx, who, msisdn, "charges")
    charges = service.list_charges(ctx, msisdn=msisdn, period=period, sp_code=who.sp_code)
    return [recast(ChargeOut, c) for c in charges]


@router.post(
    "/subscribers/{msisdn}/objections",
    response_model=ObjectionOut,
    tags=["Charging"],
    summary="Record the subscriber's objection to a charge: charging stops, a dispute opens",
)
def object_to(msisdn: str, body: ObjectionIn, who: FrontLine, ctx: CtxDep) -> ObjectionOut:
    outcome = service.object_to_charge(
        ctx, msisdn=msisdn, channel=STAFF_CHANNEL[who.role], actor=who.actor, charge_id=body.charge_id
    )
    return ObjectionOut.model_validate(jsonable(outcome))


@router.get("/objections", response_model=list[ObjectionView], tags=["Charging"], summary="Objections (disputes)")
def objections(
    who: Staff,
    ctx: CtxDep,
    msisdn: Annotated[str | None, Query(max_length=20)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^[a-z_]{1,16}$")] = None,
) -> list[ObjectionView]:
    return service.list_objections(ctx, msisdn=msisdn, status=status_)


# -- balances ------------------------------------------------------------------------------------


def _balance_out(b: ledger.Balance) -> BalanceOut:
    return BalanceOut.model_validate(jsonable(b))


@router.get("/subscribers/{msisdn}/balance", response_model=BalanceOut, tags=["Charging"], summary="Balance and debt")
def get_balance(msisdn: str, who: Staff, ctx: CtxDep) -> BalanceOut:
    viewed(ctx, who, msisdn, "balance")
    return _balance_out(ledger.balance(ctx, msisdn=msisdn))


@router.post(
    "/subscribers/{msisdn}/recharges",
    response_model=CreditOut,
    status_code=status.HTTP_201_CREATED,
    tags=["Charging"],
    summary="Recharge with a card (valid 5 years from issue)",
)
def recharge(msisdn: str, body: CardRechargeIn, who: FrontLine, ctx: CtxDep) -> CreditOut:
    got = ledger.recharge_with_card(
        ctx, msisdn=msisdn, card_no=body.card_no, channel=STAFF_CHANNEL[who.role], actor=who.actor
    )
    return CreditOut.model_validate(jsonable(got))


@router.post(
    "/subscribers/{msisdn}/payments",
    response_model=CreditOut,
    status_code=status.HTTP_201_CREATED,
    tags=["Charging"],
    summary="Take a payment (交费); the same reference is credited once",
)
def pay(msisdn: str, body: PaymentIn, who: Hall, ctx: CtxDep) -> CreditOut:
    got = ledger.credit(
        ctx, msisdn=msisdn, kind="payment", amount_fen=body.amount_fen, channel="hall", actor=who.actor, ref=body.ref
    )
    return CreditOut.model_validate(jsonable(got))


@router.post(
    "/subscribers/{msisdn}/credits",
    response_model=CreditOut,
    status_code=status.HTTP_201_CREATED,
    tags=["Charging"],
    summary="Gift, return or refund money to the balance",
)
def add_credit(msisdn: str, body: CreditIn, who: Operator, ctx: CtxDep) -> CreditOut:
    got = ledger.credit(
        ctx,
        msisdn=msisdn,
        kind=body.kind,
        amount_fen=body.amount_fen,
        channel="system",
        actor=who.actor,
        ref=body.ref,
        note=body.note,
    )
    return CreditOut.model_validate(jsonable(got))


@router.post(
    "/recharge-cards",
    response_model=list[CardOut],
    status_code=status.HTTP_201_CREATED,
    tags=["Charging"],
    summary="Issue recharge cards",
)
def cards(body: CardsIn, who: Operator, ctx: CtxDep) -> list[CardOut]:
    made = ledger.issue_cards(
        ctx,
        card_numbers=body.card_numbers,
        face_value_fen=body.face_value_fen,
        issued_on=body.issued_on,
        printed_expiry=body.printed_expiry,
    )
    return [recast(CardOut, c) for c in made]


# -- bill, advice, activation ------------------------------------------------------------------------


@router.get(
    "/subscribers/{msisdn}/bill", response_model=Bill, tags=["Charging"], summary="The month's bill (seed 002's items)"
)
def get_bill(msisdn: str, who: Staff, ctx: CtxDep, period: Annotated[BillingPeriod, Query()]) -> Bill:
    viewed(ctx, who, msisdn, "bill")
    return bill(ctx, msisdn=msisdn, period=period)


@router.get(
    "/subscribers/{msisdn}/bill.html",
    response_class=HTMLResponse,
    tags=["Charging"],
    summary="The month's bill as a page",
)
def bill_page(
    request: Request, msisdn: str, who: Staff, ctx: CtxDep, period: Annotated[BillingPeriod, Query()]
) -> Response:
    viewed(ctx, who, msisdn, "bill")
    b = bill(ctx, msisdn=normalize_msisdn(msisdn), period=period)
    return templates.TemplateResponse(request, "bill.html", {"bill": b})


@router.get(
    "/subscribers/{msisdn}/advice",
    response_model=SubscriberAdvice,
    tags=["Charging"],
    summary="Tariff advice: the package that would have cost least over the last three months",
)
def advice(msisdn: str, who: Staff, ctx: CtxDep) -> SubscriberAdvice:
    viewed(ctx, who, msisdn, "advice")
    return advise_subscriber(ctx, msisdn=msisdn)


@router.post(
    "/subscribers",
    response_model=ActivationOut,
    status_code=status.HTTP_201_CREATED,
    tags=["Charging"],
    summary="Activate a number (入网); sends the network-entry reminder",
)
def activate(body: ActivationIn, who: Hall, ctx: CtxDep) -> ActivationOut:
    done = service.activate(
        ctx,
        msisdn=body.msisdn,
        brand=body.brand,
        province=body.province,
        city=body.city,
        package_code=body.package_code,
    )
    return recast(ActivationOut, done)


@router.get("/packages", response_model=list[PackageOut], tags=["Charging"], summary="The tariff packages")
def packages(who: Staff) -> list[PackageOut]:
    return [recast(PackageOut, p) for p in PACKAGES]
