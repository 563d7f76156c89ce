"""Helpers for charging tests: subscriptions written straight into the table (so a test can
stand on any boundary) and the demo SPs' services."""

from __future__ import annotations

from datetime import date, datetime

from mingbai.ids import new_id
from mingbai.platform import Platform
from mingbai.subscriptions.models import Subscription

SERVICES = {
    "SINA-NEWS": ("SINA", "monthly", 500),
    "SINA-WEATHER": ("SINA", "monthly", 200),
    "QQ-TONES": ("TENCENT", "monthly", 300),
    "QQ-GAME": ("TENCENT", "per_use", 200),
    "SOHU-TRAFFIC": ("SOHU", "free", 0),
    "SOHU-MMS": ("SOHU", "monthly", 1000),
}


def add_subscription(
    platform: Platform,
    *,
    msisdn: str,
    service: str,
    confirmed_at: datetime,
    trial: bool = False,
    first_charge_on: date | None = None,
    unsubscribed_at: datetime | None = None,
    price_fen: int | None = None,
) -> int:
    """A subscription as the subscription core would have written it."""
    sp, billing, price = SERVICES[service]
    sub_id = new_id()
    with platform.uow() as ctx:
        ctx.session.add(
            Subscription(
                msisdn=msisdn,
                id=sub_id,
                service_code=service,
                sp_code=sp,
                order_id=new_id(),
                channel="sp",
                gifter=None,
                status="unsubscribed" if unsubscribed_at else "active",
                billing=billing,
                price_fen=price if price_fen is None else price_fen,
                trial=trial,
                first_charge_on=first_charge_on,
                ordered_at=confirmed_at,
                confirmed_at=confirmed_at,
                unsubscribed_at=unsubscribed_at,
                unsubscribe_channel="sms" if unsubscribed_at else None,
            )
        )
    return sub_id
