"""SP portal: my services and their confirmation rate, my orders, my active subscriptions
(numbers masked), my API keys (created here, shown once, revocable). An SP sees only its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from mingbai.auth.service import Role, create_key, list_keys, revoke_key
from mingbai.clock import local_date
from mingbai.consoles import dashboard, i18n
from mingbai.consoles.security import csrf_protect
from mingbai.consoles.web import PlatformDep, SpUser, WebUser, lang_of, render, see_other
from mingbai.errors import MingbaiError
from mingbai.subscriptions import service as subs
from mingbai.web.deps import RowId

router = APIRouter(prefix="/sp", include_in_schema=False, dependencies=[Depends(csrf_protect)])


#: the SP portal's figures cover this many days
WINDOW_DAYS = 30


@router.get("")
def home(request: Request, platform: PlatformDep, user: SpUser) -> Response:
    with platform.uow() as ctx:
        since = local_date(ctx.now()) - timedelta(days=WINDOW_DAYS - 1)
        services = dashboard.sp_services(ctx, user.sp_code, since)
        orders = dashboard.sp_orders(ctx, user.sp_code)
        active = subs.list_sp_subscriptions(ctx, sp_code=user.sp_code, limit=100)
    total_orders = sum(s.orders for s in services)
    total_confirmed = sum(s.confirmed for s in services)
    context = {
        "services": services,
        "orders": orders,
        "active": active,
        "since": since,
        "total_orders": total_orders,
        "total_confirmed": total_confirmed,
        "rate": total_confirmed / total_orders if total_orders else None,
    }
    return render(request, "sp/home.html", user, context)


@router.get("/orders/{order_id}")
def order(request: Request, platform: PlatformDep, user: SpUser, order_id: RowId) -> Response:
    with platform.uow() as ctx:
        placed = subs.get_order(ctx, order_id, sp_code=user.sp_code)  # another SP's order: 404
    return render(request, "sp/order.html", user, {"order": placed})


def _keys_page(request: Request, platform: PlatformDep, user: WebUser, **extra: object) -> Response:
    with platform.uow() as ctx:
        keys = list_keys(ctx, sp_code=user.sp_code)
    return render(request, "sp/keys.html", user, {"keys": keys, "new_key": None, **extra})


@router.get("/keys")
def keys(request: Request, platform: PlatformDep, user: SpUser) -> Response:
    return _keys_page(request, platform, user)


@router.post("/keys")
def create(
    request: Request, platform: PlatformDep, user: SpUser, label: Annotated[str, Form(max_length=64)]
) -> Response:
    try:
        with platform.uow() as ctx:
            key = create_key(
                ctx, role=Role.SP.value, label=label.strip(), sp_code=user.sp_code, actor=user.principal.actor
            )
    except MingbaiError:
        t = i18n.translator(lang_of(request))
        return _keys_page(request, platform, user, error=t("sp.bad_label"))
    # shown once, on this response only; the page that lists keys shows prefixes
    return _keys_page(request, platform, user, new_key=key)


@router.post("/keys/{key_id}/revoke")
def revoke(platform: PlatformDep, user: SpUser, key_id: RowId) -> Response:
    with platform.uow() as ctx:
        revoke_key(ctx, key_id, sp_code=user.sp_code, actor=user.principal.actor)  # another SP's key: 404
    platform.key_cache.clear()  # refused from this request on, here; within seconds elsewhere
    return see_other("/sp/keys?done=key_revoked")
