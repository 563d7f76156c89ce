"""Subscriber self-service portal: my subscriptions with prices and free-until dates,
unsubscribe one or all, my charges and bills (once charging runs). Mobile first."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mingbai.clock import local_date, period_of
from mingbai.consoles import i18n
from mingbai.consoles.charges import charge_source
from mingbai.consoles.security import csrf_protect
from mingbai.consoles.views import subscription_cards
from mingbai.consoles.web import PlatformDep, Subscriber, WebUser, lang_of, render, see_other
from mingbai.errors import NotFound
from mingbai.subscriptions import service as subs
from mingbai.web.deps import RowId

router = APIRouter(prefix="/me", include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _home(request: Request, platform: PlatformDep, user: WebUser, notice: str | None = None) -> Response:
    source = charge_source(request)
    with platform.uow() as ctx:
        cards = subscription_cards(ctx, user.msisdn)
        gifts = subs.gifts_given(ctx, msisdn=user.msisdn, active_only=True)
        today = local_date(ctx.now())
        charges = source.charges(ctx, msisdn=user.msisdn, since=today - timedelta(days=180)) if source else None
        bill = source.bill(ctx, msisdn=user.msisdn, period=period_of(today)) if source else None
    context = {
        "active": [c for c in cards if c.sub.status == "active"],
        "gifts": gifts,
        "ended": [c for c in cards if c.sub.status != "active"],
        "charging_ready": source is not None,
        "charges": charges,
        "bill": bill,
    }
    if notice:
        context["notice"] = notice
    name = (
        "me/_subscriptions.html" if request.headers.get("HX-Request") and request.method == "POST" else "me/home.html"
    )
    return render(request, name, user, context)


@router.get("")
def home(request: Request, platform: PlatformDep, user: Subscriber) -> Response:
    return _home(request, platform, user)


@router.get("/subscriptions/{subscription_id}")
def subscription(request: Request, platform: PlatformDep, user: Subscriber, subscription_id: RowId) -> Response:
    with platform.uow() as ctx:
        cards = [c for c in subscription_cards(ctx, user.msisdn) if c.sub.id == subscription_id]
    if not cards:
        # another subscriber's subscription does not exist, as far as this page can tell
        raise NotFound(f"no subscription {subscription_id}")
    return render(request, "me/subscription.html", user, {"card": cards[0]})


@router.post("/unsubscribe")
def unsubscribe(
    request: Request,
    platform: PlatformDep,
    user: Subscriber,
    subscription_id: Annotated[int | None, Form()] = None,
    all: Annotated[bool, Form()] = False,
) -> Response:
    with platform.uow() as ctx:
        ended = subs.unsubscribe(
            ctx,
            msisdn=user.msisdn,
            channel="web",
            actor=user.principal.actor,
            subscription_ids=None if all else [subscription_id] if subscription_id is not None else [],
        )
    platform.deliver(msisdn=user.msisdn)
    if subscription_id is not None and not all and not ended:
        with platform.uow() as ctx:
            if not any(c.sub.id == subscription_id for c in subscription_cards(ctx, user.msisdn)):
                raise NotFound(f"no subscription {subscription_id}")
    done = "unsubscribed" if ended else "nothing_to_unsubscribe"
    if request.headers.get("HX-Request"):
        return _home(request, platform, user, notice=i18n.translator(lang_of(request))("done." + done))
    return see_other(f"/me?done={done}")
