"""REST routes: SPs order for subscribers; agents query and unsubscribe on their behalf."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from mingbai.auth.service import STAFF_CHANNEL, Principal
from mingbai.catalog.service import get_subscriber
from mingbai.errors import InvalidInput
from mingbai.jsonable import jsonable
from mingbai.msisdn import normalize_msisdn
from mingbai.ratelimit import RateLimiter, enforce
from mingbai.subscriptions import service
from mingbai.subscriptions.schemas import (
    EventOut,
    OrderIn,
    OrderOut,
    StaffOrderIn,
    SubscriptionDetail,
    SubscriptionOut,
    UnsubscribedOut,
    UnsubscribeIn,
)
from mingbai.web.deps import CtxDep, RowId, SpOnly, Staff, viewed

router = APIRouter(prefix="/api/v1")


def _order_out(placed: service.PlacedOrder) -> OrderOut:
    return OrderOut.model_validate(jsonable(placed))


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    tags=["SP"],
    summary="Order a service for a subscriber (stays pending until they confirm by SMS)",
)
def sp_place_order(body: OrderIn, who: SpOnly, ctx: CtxDep, request: Request) -> OrderOut:
    _order_limits(request, who, body.msisdn)
    placed = service.place_order(
        ctx,
        msisdn=body.msisdn,
        service_code=body.service_code,
        channel=body.channel,
        actor=who.actor,
        gifter=body.gifter,
        sp_code=who.sp_code,
        external_ref=body.external_ref,
    )
    return _order_out(placed)


def _order_limits(request: Request, who: Principal, msisdn: str) -> None:
    """Per SP key and per (SP, subscriber): every order sends the subscriber an SMS from 10086
    and opens a code to guess, so re-ordering must not become a way to flood or to guess."""
    limiter: RateLimiter = request.app.state.rate_limiter
    settings = request.app.state.platform.settings
    enforce(
        limiter, f"sp-orders:{who.actor}", limit=settings.sp_orders_per_minute, window=60, what="orders of this key"
    )
    try:
        subscriber = normalize_msisdn(msisdn)
    except InvalidInput:
        return  # place_order refuses it with its own reason
    enforce(
        limiter,
        f"sp-orders:{who.sp_code}:{subscriber}",
        limit=settings.sp_orders_per_subscriber_per_hour,
        window=3600,
        what="orders for this subscriber",
    )


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["SP"], summary="One of your orders")
def sp_get_order(order_id: RowId, who: SpOnly, ctx: CtxDep) -> OrderOut:
    return _order_out(service.get_order(ctx, order_id, sp_code=who.sp_code))


@router.get(
    "/subscriptions", response_model=list[SubscriptionOut], tags=["SP"], summary="Your subscriptions for one subscriber"
)
def sp_subscriptions(
    who: SpOnly, ctx: CtxDep, msisdn: Annotated[str, Query(min_length=1, max_length=20)]
) -> list[SubscriptionOut]:
    viewed(ctx, who, msisdn, "subscriptions")
    subs = service.list_subscriptions(ctx, msisdn=msisdn, sp_code=who.sp_code)
    return [SubscriptionOut.model_validate(jsonable(s)) for s in subs]


class SpUnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    msisdn: str = Field(min_length=1, max_length=20)
    service_code: str = Field(min_length=1, max_length=32)


@router.post(
    "/subscriptions/unsubscribe",
    response_model=list[UnsubscribedOut],
    tags=["SP"],
    summary="End one of your services for a subscriber (e.g. after a TD sent to your number)",
)
def sp_unsubscribe(body: SpUnsubscribeIn, who: SpOnly, ctx: CtxDep) -> list[UnsubscribedOut]:
    ended = service.unsubscribe(
        ctx, msisdn=body.msisdn, channel="sp", actor=who.actor, service_code=body.service_code, sp_code=who.sp_code
    )
    return [UnsubscribedOut(subscription_id=e.subscription_id, service_code=e.service_code) for e in ended]


@router.get(
    "/subscribers/{msisdn}/subscriptions",
    response_model=list[SubscriptionDetail],
    tags=["Agent"],
    summary="Unified query: every subscription with the 15 fields of R5 and one year of history",
)
def agent_subscriptions(msisdn: str, who: Staff, ctx: CtxDep) -> list[SubscriptionDetail]:
    get_subscriber(ctx, msisdn)
    viewed(ctx, who, msisdn, "subscriptions")
    out = []
    for s, events in service.subscriptions_with_history(ctx, msisdn=msisdn):
        mine = [EventOut.model_validate(jsonable(e)) for e in events]
        out.append(
            SubscriptionDetail(
                id=s.id,
                sp_name=s.sp_name,
                service_code=s.service_code,
                service_name=s.service_name,
                order_time=s.ordered_at,
                service_type=s.service_type,
                billing_type=s.billing,
                price_fen=s.price_fen,
                status=s.status,
                order_channel=s.channel,
                change_history=mine,
                sp_hotline=s.sp_hotline,
                contact=s.sp_contact,
                gifter=s.gifter,
                description=s.description,
                attributes=s.attributes,
                confirmed_at=s.confirmed_at,
                first_charge_on=s.first_charge_on,
                unsubscribed_at=s.unsubscribed_at,
            )
        )
    return out


@router.get(
    "/subscribers/{msisdn}/history",
    response_model=list[EventOut],
    tags=["Agent"],
    summary="Every order and subscription change over the last year",
)
def agent_history(msisdn: str, who: Staff, ctx: CtxDep) -> list[EventOut]:
    get_subscriber(ctx, msisdn)
    return [EventOut.model_validate(jsonable(e)) for e in service.history(ctx, msisdn=msisdn)]


@router.post(
    "/subscribers/{msisdn}/unsubscribe",
    response_model=list[UnsubscribedOut],
    tags=["Agent"],
    summary="Unsubscribe on the caller's behalf (channel: hotline for agents, hall for clerks)",
)
def agent_unsubscribe(msisdn: str, body: UnsubscribeIn, who: Staff, ctx: CtxDep) -> list[UnsubscribedOut]:
    chosen = [body.subscription_ids is not None, body.service_code is not None, body.all]
    if sum(chosen) != 1:
        raise InvalidInput("give exactly one of subscription_ids, service_code or all=true")
    ended = service.unsubscribe(
        ctx,
        msisdn=msisdn,
        channel=STAFF_CHANNEL[who.role],
        actor=who.actor,
        subscription_ids=body.subscription_ids,
        service_code=body.service_code,
    )
    return [UnsubscribedOut(subscription_id=e.subscription_id, service_code=e.service_code) for e in ended]


@router.post(
    "/subscribers/{msisdn}/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    tags=["Agent"],
    summary="Order on the caller's behalf; the subscriber must still confirm by SMS",
)
def agent_order(msisdn: str, body: StaffOrderIn, who: Staff, ctx: CtxDep) -> OrderOut:
    placed = service.place_order(
        ctx,
        msisdn=normalize_msisdn(msisdn),
        service_code=body.service_code,
        channel=body.channel or STAFF_CHANNEL[who.role],
        actor=who.actor,
        gifter=body.gifter,
    )
    return _order_out(placed)
