"""Catalog administration (operator) and an SP's view of its own services."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from mingbai.catalog import service
from mingbai.catalog.rules import ServiceIn, SpIn, SubscriberIn
from mingbai.catalog.service import ImportReport
from mingbai.errors import InvalidInput
from mingbai.jsonable import recast
from mingbai.web.deps import CtxDep, Operator, SpOnly

router = APIRouter(prefix="/api/v1", tags=["Catalog"])


class SpOut(BaseModel):
    code: str
    name: str
    hotline: str
    contact: str | None
    access_number: str | None
    status: str
    credit_points: int


class ServiceOut(BaseModel):
    code: str
    sp_code: str
    name: str
    type: str
    billing: str
    price_fen: int
    description: str | None
    attributes: dict[str, Any] | None
    scope: str
    status: str
    mo_keyword: str | None


class StatusIn(BaseModel):
    status: Literal["active", "suspended"]
    #: why (required to suspend); recorded with who did it
    reason: str | None = Field(default=None, max_length=500)


# only the OpenAPI name of catalog.service.ImportReport (see jsonable.recast)
class ImportOut(ImportReport):
    pass


def _sp(s: Any) -> SpOut:
    return SpOut.model_validate(s, from_attributes=True)


def _svc(s: Any) -> ServiceOut:
    return ServiceOut.model_validate(s, from_attributes=True)


@router.get("/catalog/sps", response_model=list[SpOut])
def list_sps(who: Operator, ctx: CtxDep) -> list[SpOut]:
    return [_sp(s) for s in service.list_sps(ctx)]


@router.put("/catalog/sps/{code}", response_model=SpOut)
def put_sp(code: str, body: SpIn, who: Operator, ctx: CtxDep) -> SpOut:
    if body.code != code:
        raise InvalidInput("code in the path and the body differ")
    return _sp(service.save_sp(ctx, body, actor=who.actor))


@router.post("/catalog/sps/{code}/status", response_model=SpOut, summary="Suspend or resume an SP")
def sp_status(code: str, body: StatusIn, who: Operator, ctx: CtxDep) -> SpOut:
    return _sp(service.set_sp_status(ctx, code, body.status, actor=who.actor, reason=body.reason))


@router.get("/catalog/services", response_model=list[ServiceOut])
def list_services(who: Operator, ctx: CtxDep, sp: str | None = None) -> list[ServiceOut]:
    return [_svc(s) for s in service.list_services(ctx, sp)]


@router.put("/catalog/services/{code}", response_model=ServiceOut)
def put_service(code: str, body: ServiceIn, who: Operator, ctx: CtxDep) -> ServiceOut:
    if body.code != code:
        raise InvalidInput("code in the path and the body differ")
    return _svc(service.save_service(ctx, body, actor=who.actor))


@router.post("/catalog/services/{code}/status", response_model=ServiceOut, summary="Suspend or resume a service")
def service_status(code: str, body: StatusIn, who: Operator, ctx: CtxDep) -> ServiceOut:
    return _svc(service.set_service_status(ctx, code, body.status, actor=who.actor, reason=body.reason))


@router.put("/catalog/subscribers/{msisdn}", response_model=SubscriberIn)
def put_subscriber(msisdn: str, body: SubscriberIn, who: Operator, ctx: CtxDep) -> SubscriberIn:
    if body.msisdn != msisdn:
        raise InvalidInput("MSISDN in the path and the body differ")
    s = service.save_subscriber(ctx, body, actor=who.actor)
    return SubscriberIn(
        msisdn=s.msisdn,
        brand=s.brand,
        province=s.province,
        city=s.city,
        package=s.package,
        status=s.status,
    )


@router.post("/catalog/import", response_model=ImportOut, summary="Import SPs, services, subscribers (all or nothing)")
def import_catalog(who: Operator, ctx: CtxDep, doc: Annotated[dict[str, Any], Body()]) -> ImportOut:
    report = service.import_catalog(ctx, doc, actor=who.actor)
    return recast(ImportOut, report)


@router.get("/services", response_model=list[ServiceOut], tags=["SP"], summary="Your services")
def my_services(who: SpOnly, ctx: CtxDep) -> list[ServiceOut]:
    return [_svc(s) for s in service.list_services(ctx, who.sp_code)]
