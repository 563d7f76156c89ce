"""The new bill (seed 002: 新版账单) and the tariff advice (R15), read from the ledger, the
charges and the usage records. Reads only; nothing here changes anything.

Seed 002's items, in the bill's order: 充值及交费记录 (recharges and payments), 赠送及返还金额
(gifts and returns, with refunds), 套餐通信量使用状况 (package usage), 积分余额及变更信息 (points
balance and changes), 代收费业务消费明细 (third-party charges per SP and service, with dates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from mingbai.catalog.models import Sp
from mingbai.catalog.rules import yuan
from mingbai.catalog.service import get_subscriber
from mingbai.charging.ledger import Credit, PointsChange, balance, credits_between, points_between
from mingbai.charging.packages import KB_PER_MB, Advice, advise, find_package, month_cost
from mingbai.charging.rules import parse_billing_period, period_at
from mingbai.charging.service import list_charges
from mingbai.charging.usage import MonthFigures, month_figures
from mingbai.clock import local_date
from mingbai.db import Ctx
from mingbai.errors import InvalidInput, NotFound
from mingbai.msisdn import normalize_msisdn


@dataclass(frozen=True)
class ThirdPartyItem:
    charge_id: int
    day: date
    kind: str
    quantity: int
    amount_fen: int
    objected: bool
    #: the month the fee is for (a usage record imported after its month ended is billed in
    #: the month it reached the account, and says which month it was used in)
    period: str


@dataclass(frozen=True)
class ServiceCharges:
    service_code: str
    service_name: str
    total_fen: int
    items: list[ThirdPartyItem]


@dataclass(frozen=True)
class SpCharges:
    sp_code: str
    sp_name: str
    sp_hotline: str
    total_fen: int
    services: list[ServiceCharges]


@dataclass(frozen=True)
class UsageLine:
    item: str  # voice | sms | data
    unit: str  # 分钟 | 条 | MB
    included: int
    used: int
    over: int
    over_fen: int


@dataclass(frozen=True)
class PackageUsage:
    package_code: str | None
    package_name: str
    monthly_fee_fen: int
    lines: list[UsageLine]
    abroad_data_mb: float
    total_fen: int


@dataclass(frozen=True)
class Bill:
    msisdn: str
    brand: str
    period: str
    period_zh: str
    first_day: date
    last_day: date
    as_of: datetime
    #: the account at 00:00 on the 1st: what is left minus what is owed (negative: 欠费).
    #: opening_balance_fen + credits_fen - debits_fen == closing_balance_fen, and a month's
    #: closing balance is the next month's opening balance, to the fen
    opening_balance_fen: int
    opening_owed_fen: int
    closing_balance_fen: int
    closing_owed_fen: int
    #: every credit of the month (recharges, payments, gifts, returns, refunds)
    credits_fen: int
    #: every charge that reached the account in the month (the third-party items below)
    debits_fen: int
    recharges_and_payments: list[Credit]
    gifts_and_returns: list[Credit]
    package: PackageUsage
    points_opening: int
    points_changes: list[PointsChange]
    points_closing: int
    third_party: list[SpCharges]
    third_party_total_fen: int


def _package_usage(code: str | None, figures: MonthFigures) -> PackageUsage:
    package = find_package(code)
    if package is None:
        # no package on record: show what was used, priced at the standard rates
        package = find_package("BASIC")
        assert package is not None
        name = "未登记套餐(按标准资费)"
    else:
        name = package.name
    cost = month_cost(package, figures.domestic())
    used_mb = -(-figures.data_kb // KB_PER_MB)
    lines = [
        UsageLine(
            "voice",
            "分钟",
            package.voice_min,
            figures.voice_min,
            max(0, figures.voice_min - package.voice_min),
            cost.voice_over_fen,
        ),
        UsageLine("sms", "条", package.sms, figures.sms, max(0, figures.sms - package.sms), cost.sms_over_fen),
        UsageLine("data", "MB", package.data_mb, used_mb, max(0, used_mb - package.data_mb), cost.data_over_fen),
    ]
    return PackageUsage(
        package.code if code else None,
        name,
        package.monthly_fee_fen,
        lines,
        round(figures.abroad_data_kb / KB_PER_MB, 1),
        cost.total_fen,
    )


def _third_party(ctx: Ctx, msisdn: str, start: datetime, end: datetime) -> tuple[list[SpCharges], int]:
    charges = list_charges(ctx, msisdn=msisdn, booked=(start, end), limit=100_000)
    hotlines = {code: hotline for code, hotline in ctx.session.execute(select(Sp.code, Sp.hotline))}
    by_sp: dict[str, dict[str, list[ThirdPartyItem]]] = {}
    names: dict[str, str] = {}
    sp_names: dict[str, str] = {}
    for c in charges:
        names[c.service_code] = c.service_name
        sp_names[c.sp_code] = c.sp_name
        item = ThirdPartyItem(c.id, local_date(c.occurred_at), c.kind, c.quantity, c.amount_fen, c.objected, c.period)
        by_sp.setdefault(c.sp_code, {}).setdefault(c.service_code, []).append(item)
    out = []
    for sp_code in sorted(by_sp):
        services = [
            ServiceCharges(code, names[code], sum(i.amount_fen for i in items), items)
            for code, items in sorted(by_sp[sp_code].items())
        ]
        out.append(
            SpCharges(
                sp_code, sp_names[sp_code], hotlines.get(sp_code, ""), sum(s.total_fen for s in services), services
            )
        )
    return out, sum(s.total_fen for s in out)


def bill(ctx: Ctx, *, msisdn: str, period: str) -> Bill:
    """A subscriber's bill for a month; for the running month, as it stands now.

    The month is the half-open interval [00:00 on the 1st, 00:00 on the next 1st) Shanghai
    (:class:`mingbai.charging.rules.Period`): an entry at exactly 00:00 on the 1st belongs to the
    month that begins. Credits and charges count in the month they reached the account."""
    msisdn = normalize_msisdn(msisdn)
    try:
        p = parse_billing_period(period)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_period") from None
    subscriber = get_subscriber(ctx, msisdn)
    now = ctx.now()
    if p.start > now:
        raise InvalidInput(f"period {p.label} has not begun", code="bad_period")
    end = min(p.end, now + timedelta(microseconds=1))
    opening = balance(ctx, msisdn=msisdn, at=p.start)
    closing = balance(ctx, msisdn=msisdn, at=end)
    credits = credits_between(ctx, msisdn, p.start, end)
    figures = month_figures(ctx, msisdn, [p.label])[p.label]
    third_party, third_total = _third_party(ctx, msisdn, p.start, end)
    last_day = local_date(end) if end < p.end else p.next_first_day - timedelta(days=1)
    return Bill(
        msisdn=msisdn,
        brand=subscriber.brand,
        period=p.label,
        period_zh=p.zh,
        first_day=p.first_day,
        last_day=last_day,
        as_of=min(end, now),
        opening_balance_fen=opening.balance_fen - opening.owed_fen,
        opening_owed_fen=opening.owed_fen,
        closing_balance_fen=closing.balance_fen - closing.owed_fen,
        closing_owed_fen=closing.owed_fen,
        credits_fen=sum(c.amount_fen for c in credits),
        debits_fen=third_total,
        recharges_and_payments=[c for c in credits if c.kind in ("recharge", "payment")],
        gifts_and_returns=[c for c in credits if c.kind in ("gift", "return", "refund")],
        package=_package_usage(subscriber.package, figures),
        points_opening=opening.points,
        points_changes=points_between(ctx, msisdn, p.start, end),
        points_closing=closing.points,
        third_party=third_party,
        third_party_total_fen=third_total,
    )


# -- the tariff advisor --------------------------------------------------------------------------

#: months of history the advice is drawn from (seed 001: 客户资费分析)
ADVICE_MONTHS = 3


@dataclass(frozen=True)
class SubscriberAdvice:
    msisdn: str
    advice: Advice
    #: what an agent says: "switch to X, saving Y" or "the current package is the cheapest"
    summary: str


def advise_subscriber(ctx: Ctx, *, msisdn: str) -> SubscriberAdvice:
    """From the last three whole months of usage, the package that would have cost least."""
    msisdn = normalize_msisdn(msisdn)
    subscriber = get_subscriber(ctx, msisdn)
    current = period_at(ctx.now())
    periods = []
    p = current
    for _ in range(ADVICE_MONTHS):
        p = p.previous()
        periods.append(p.label)
    figures = month_figures(ctx, msisdn, periods)
    months = [figures[label].domestic() for label in reversed(periods) if figures[label].records]
    if not months:
        raise NotFound(f"no usage records for {', '.join(reversed(periods))}: nothing to advise on", code="no_usage")
    package = find_package(subscriber.package)
    advice = advise(package.code if package else None, months)
    if advice.switch:
        summary = (
            f"建议改用{advice.best_name}:按近{len(months)}个月用量共{yuan(advice.best_total_fen)}元,"
            f"比现套餐节省{yuan(advice.saving_fen or 0)}元"
        )
    elif advice.current_code is None:
        summary = f"未登记套餐;按近{len(months)}个月用量,{advice.best_name}最省,共{yuan(advice.best_total_fen)}元"
    else:
        summary = f"现套餐已是最省:按近{len(months)}个月用量共{yuan(advice.best_total_fen)}元"
    return SubscriberAdvice(msisdn, advice, summary)
