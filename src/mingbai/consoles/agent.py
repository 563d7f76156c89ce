"""Agent console (10086 hotline, business hall): find a subscriber, see every subscription with
its 15 fields and history, unsubscribe on the caller's behalf, place an order that the
subscriber must still confirm by SMS. Personal data is masked."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mingbai.accounts.service import masked_profile
from mingbai.auth.service import STAFF_CHANNEL
from mingbai.catalog.service import get_subscriber, list_services
from mingbai.clock import local_date
from mingbai.consoles import i18n
from mingbai.consoles.charges import charge_source
from mingbai.consoles.security import csrf_protect
from mingbai.consoles.vault import subscriber_vault_context
from mingbai.consoles.views import subscription_cards
from mingbai.consoles.web import (
    FrontLine,
    PlatformDep,
    WebUser,
    by_reference,
    lang_of,
    render,
    see_other,
    subscriber_param,
    subscriber_ref,
    viewed,
)
from mingbai.errors import MingbaiError
from mingbai.msisdn import normalize_msisdn
from mingbai.subscriptions import service as subs

router = APIRouter(prefix="/agent", include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("")
def search(request: Request, platform: PlatformDep, user: FrontLine, msisdn: str | None = None) -> Response:
    return _find(request, platform, user, msisdn)


@router.post("")
def find(
    request: Request, platform: PlatformDep, user: FrontLine, msisdn: Annotated[str, Form(max_length=20)]
) -> Response:
    """The search form posts the number, so it stays out of the address bar and the history."""
    return _find(request, platform, user, msisdn)


def _find(request: Request, platform: PlatformDep, user: WebUser, msisdn: str | None) -> Response:
    if msisdn:
        try:
            number = normalize_msisdn(msisdn)
            with platform.uow() as ctx:
                get_subscriber(ctx, number)
        except MingbaiError:
            t = i18n.translator(lang_of(request))
            return render(request, "agent/search.html", user, {"error": t("agent.not_found")}, status_code=404)
        return see_other(f"/agent/subscribers/{subscriber_ref(request, number)}")
    return render(request, "agent/search.html", user)


def _subscriber_page(
    request: Request,
    platform: PlatformDep,
    user: WebUser,
    number: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The subscriber's page (``number`` resolved by the route)."""
    source = charge_source(request)
    with platform.uow() as ctx:
        subscriber = get_subscriber(ctx, number)
        cards = subscription_cards(ctx, number)
        gifts = subs.gifts_given(ctx, msisdn=number, active_only=True)
        orders = [o for o in subs.list_orders(ctx, msisdn=number) if o.status == "pending"]
        history = subs.history(ctx, msisdn=number)
        services = [s for s in list_services(ctx) if s.status == "active"]
        profile = masked_profile(ctx, number)
        today = local_date(ctx.now())  # the business day, in Shanghai
        charges = source.charges(ctx, msisdn=number, since=today - timedelta(days=180)) if source else None
        viewed(ctx, user, number, "subscriber")
    context = {
        "subscriber": subscriber,
        "profile": profile,
        "cards": cards,
        "active": [c for c in cards if c.sub.status == "active"],
        "gifts": gifts,
        "pending": orders,
        "history": list(reversed(history)),
        "services": services,
        "channel": STAFF_CHANNEL[user.role],
        "charges": charges,
        "charging_ready": source is not None,
        "error": error,
        # the vault's forms (ask for one operation; break the glass): default range, the last week
        "today": today,
        "week": timedelta(days=6),
        **subscriber_vault_context(platform, user),
    }
    if notice:
        context["notice"] = notice
    if request.headers.get("HX-Request") and request.method == "POST":
        return render(request, "agent/_subscriptions.html", user, context, status_code=status)
    return render(request, "agent/subscriber.html", user, context, status_code=status)


@router.get("/subscribers/{msisdn}")
def subscriber(request: Request, platform: PlatformDep, user: FrontLine, msisdn: str) -> Response:
    number = subscriber_param(platform, msisdn)
    return by_reference(request, msisdn, number) or _subscriber_page(request, platform, user, number)


@router.post("/subscribers/{msisdn}/unsubscribe")
def unsubscribe(
    request: Request,
    platform: PlatformDep,
    user: FrontLine,
    msisdn: str,
    subscription_id: Annotated[int | None, Form()] = None,
    all: Annotated[bool, Form()] = False,
) -> Response:
    number = subscriber_param(platform, msisdn)
    with platform.uow() as ctx:
        get_subscriber(ctx, number)
        ended = subs.unsubscribe(
            ctx,
            msisdn=number,
            channel=STAFF_CHANNEL[user.role],
            actor=user.principal.actor,
            subscription_ids=None if all else [subscription_id] if subscription_id is not None else [],
        )
    platform.deliver(msisdn=number)
    done = "unsubscribed" if ended else "nothing_to_unsubscribe"
    if request.headers.get("HX-Request"):
        return _subscriber_page(
            request, platform, user, number, notice=i18n.translator(lang_of(request))("done." + done)
        )
    return see_other(f"/agent/subscribers/{subscriber_ref(request, number)}?done={done}")


@router.post("/subscribers/{msisdn}/orders")
def place_order(
    request: Request,
    platform: PlatformDep,
    user: FrontLine,
    msisdn: str,
    service_code: Annotated[str, Form(max_length=32)],
) -> Response:
    number = subscriber_param(platform, msisdn)
    try:
        with platform.uow() as ctx:
            subs.place_order(
                ctx,
                msisdn=number,
                service_code=service_code,
                channel=STAFF_CHANNEL[user.role],
                actor=user.principal.actor,
            )
    except MingbaiError as exc:
        t = i18n.translator(lang_of(request))
        message = t("error." + exc.code) if i18n.has("error." + exc.code) else exc.message
        return _subscriber_page(request, platform, user, number, error=message, status=exc.status_code)
    platform.deliver(msisdn=number)
    return see_other(f"/agent/subscribers/{subscriber_ref(request, number)}?done=order_placed")
