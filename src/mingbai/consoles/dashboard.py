"""Set-based aggregates for the operator dashboard and the SP portal.

Every figure is one GROUP BY over a time range, grouped by the Asia/Shanghai business day
(Shanghai has had no daylight saving since 1991, so SQLite's fixed +8 hours equals
PostgreSQL's ``AT TIME ZONE 'Asia/Shanghai'``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement

from mingbai.catalog.models import Service, Sp
from mingbai.clock import local_midnight
from mingbai.consoles.buckets import buckets, sum_by, unit_for
from mingbai.db import Ctx
from mingbai.messaging.kinds import REMINDER_KINDS
from mingbai.messaging.models import MoMessage, OutboundSms
from mingbai.subscriptions.models import Order, Subscription

#: at most this many days on one dashboard
MAX_DAYS = 366


def local_day(ctx: Ctx, column: Any) -> ColumnElement[Any]:
    if ctx.dialect == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.date(column, "+8 hours")


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _rate(confirmed: int, orders: int) -> float | None:
    return round(confirmed / orders, 4) if orders else None


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass
class SpFigures:
    sp_code: str
    sp_name: str
    orders: int = 0
    confirmed: int = 0
    unsubscribed: int = 0
    active: int = 0

    @property
    def rate(self) -> float | None:
        return _rate(self.confirmed, self.orders)


@dataclass
class DayFigures:
    day: date
    orders: int = 0
    confirmed: int = 0
    unsubscribed: int = 0
    queries: int = 0
    reminders: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return _rate(self.confirmed, self.orders)

    @property
    def reminders_total(self) -> int:
        return sum(self.reminders.values())


@dataclass
class Dashboard:
    start: date
    end: date
    days: list[DayFigures]
    sps: list[SpFigures]
    #: orders per day per SP: {sp_code: [count per day]}
    orders_by_sp: dict[str, list[int]]
    #: the start asked for when the range was longer than MAX_DAYS and cut (the page says so)
    cut_from: date | None = None

    @property
    def totals(self) -> DayFigures:
        t = DayFigures(self.end)
        for d in self.days:
            t.orders += d.orders
            t.confirmed += d.confirmed
            t.unsubscribed += d.unsubscribed
            t.queries += d.queries
            for kind, n in d.reminders.items():
                t.reminders[kind] = t.reminders.get(kind, 0) + n
        return t

    def chart_data(self) -> dict[str, Any]:
        """What the page hands to ECharts (as JSON): days, or weeks or months over 90 days so
        bars stay readable (``unit`` says which; ``days`` holds the labels)."""
        unit = unit_for(len(self.days))
        groups = buckets([d.day for d in self.days], unit)
        kinds = [k for k in REMINDER_KINDS if any(d.reminders.get(k) for d in self.days)]

        def series(values: list[int]) -> list[int]:
            return sum_by(values, groups)

        orders, confirmed = series([d.orders for d in self.days]), series([d.confirmed for d in self.days])
        return {
            "unit": unit,
            "days": [b.label for b in groups],
            "orders": orders,
            "confirmed": confirmed,
            "unsubscribed": series([d.unsubscribed for d in self.days]),
            "queries": series([d.queries for d in self.days]),
            "rate": [None if not o else round(c / o * 100, 1) for o, c in zip(orders, confirmed, strict=True)],
            "reminders": {k: series([d.reminders.get(k, 0) for d in self.days]) for k in kinds},
            "sps": [s.sp_code for s in self.sps],
            "sp_orders": [s.orders for s in self.sps],
            "sp_confirmed": [s.confirmed for s in self.sps],
            "sp_unsubscribed": [s.unsubscribed for s in self.sps],
            "orders_by_sp": {sp: series(v) for sp, v in self.orders_by_sp.items()},
        }


def dashboard(ctx: Ctx, start: date, end: date) -> Dashboard:
    """Orders, confirmations (of the orders placed that day), unsubscriptions, "0000" queries
    and reminders sent, per Shanghai day and per SP, from ``start`` to ``end`` inclusive."""
    if end < start:
        start, end = end, start
    asked = start
    start = max(start, end - timedelta(days=MAX_DAYS - 1))
    lo, hi = local_midnight(start), local_midnight(end + timedelta(days=1))
    days = {d: DayFigures(d) for d in days_between(start, end)}
    sps = {
        code: SpFigures(code, name) for code, name in ctx.session.execute(select(Sp.code, Sp.name).order_by(Sp.code))
    }
    orders_by_sp: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    index = {d: i for i, d in enumerate(days)}

    day = local_day(ctx, Order.created_at)
    confirmed = func.sum(case((Order.status == "confirmed", 1), else_=0))
    for d, sp_code, n, c in ctx.session.execute(
        select(day, Order.sp_code, func.count(), confirmed)
        .where(Order.created_at >= lo, Order.created_at < hi)
        .group_by(day, Order.sp_code)
    ):
        fig = days[_day(d)]
        fig.orders += int(n)
        fig.confirmed += int(c or 0)
        sp = sps.setdefault(sp_code, SpFigures(sp_code, sp_code))
        sp.orders += int(n)
        sp.confirmed += int(c or 0)
        orders_by_sp[sp_code][index[_day(d)]] += int(n)

    day = local_day(ctx, Subscription.unsubscribed_at)
    for d, sp_code, n in ctx.session.execute(
        select(day, Subscription.sp_code, func.count())
        .where(Subscription.unsubscribed_at >= lo, Subscription.unsubscribed_at < hi)
        .group_by(day, Subscription.sp_code)
    ):
        days[_day(d)].unsubscribed += int(n)
        sps.setdefault(sp_code, SpFigures(sp_code, sp_code)).unsubscribed += int(n)

    for sp_code, n in ctx.session.execute(
        select(Subscription.sp_code, func.count()).where(Subscription.status == "active").group_by(Subscription.sp_code)
    ):
        sps.setdefault(sp_code, SpFigures(sp_code, sp_code)).active = int(n)

    day = local_day(ctx, MoMessage.received_at)
    for d, n in ctx.session.execute(
        select(day, func.count())
        .where(MoMessage.received_at >= lo, MoMessage.received_at < hi, MoMessage.handled_as == "query")
        .group_by(day)
    ):
        days[_day(d)].queries += int(n)

    day = local_day(ctx, OutboundSms.sent_at)
    for d, kind, n in ctx.session.execute(
        select(day, OutboundSms.kind, func.count())
        .where(
            OutboundSms.sent_at >= lo,
            OutboundSms.sent_at < hi,
            OutboundSms.kind.in_(REMINDER_KINDS),
            OutboundSms.status.in_(("submitted", "delivered")),
        )
        .group_by(day, OutboundSms.kind)
    ):
        reminders = days[_day(d)].reminders
        reminders[kind] = reminders.get(kind, 0) + int(n)

    cut_from = asked if asked < start else None
    return Dashboard(start, end, list(days.values()), list(sps.values()), dict(orders_by_sp), cut_from)


# -- the SP portal --------------------------------------------------------------------------


@dataclass
class ServiceFigures:
    code: str
    name: str
    billing: str
    price_fen: int
    status: str
    orders: int = 0
    confirmed: int = 0
    active: int = 0

    @property
    def rate(self) -> float | None:
        return _rate(self.confirmed, self.orders)


def sp_services(ctx: Ctx, sp_code: str, since: date) -> list[ServiceFigures]:
    """One SP's services with orders since ``since`` and how many were confirmed."""
    out = {
        s.code: ServiceFigures(s.code, s.name, s.billing, s.price_fen, s.status)
        for s in ctx.session.scalars(select(Service).where(Service.sp_code == sp_code).order_by(Service.code))
    }
    confirmed = func.sum(case((Order.status == "confirmed", 1), else_=0))
    for code, n, c in ctx.session.execute(
        select(Order.service_code, func.count(), confirmed)
        .where(Order.sp_code == sp_code, Order.created_at >= local_midnight(since))
        .group_by(Order.service_code)
    ):
        if code in out:
            out[code].orders, out[code].confirmed = int(n), int(c or 0)
    for code, n in ctx.session.execute(
        select(Subscription.service_code, func.count())
        .where(Subscription.sp_code == sp_code, Subscription.status == "active")
        .group_by(Subscription.service_code)
    ):
        if code in out:
            out[code].active = int(n)
    return list(out.values())


def sp_orders(ctx: Ctx, sp_code: str, *, limit: int = 50) -> list[Order]:
    return list(
        ctx.session.scalars(
            select(Order)
            .where(Order.sp_code == sp_code)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
    )
