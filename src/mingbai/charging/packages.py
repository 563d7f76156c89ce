"""The tariff packages (套餐) and the tariff advisor (R15, seed 001: 建设客户资费分析模块,向客户推荐
合适的资费产品). Pure: a small catalog and functions over it, no database.

Allowances are per Asia/Shanghai month; data is counted in KB (records) and sold in MB
(1 MB = 1024 KB), voice in minutes (each call rounded up to a whole minute), SMS per message.
Roaming abroad is priced apart from every package, so it never changes the advice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mingbai.catalog.packages import KB_PER_MB, PACKAGES, PACKAGES_BY_CODE, Package, find_package

__all__ = [
    "KB_PER_MB",
    "PACKAGES",
    "PACKAGES_BY_CODE",
    "Advice",
    "MonthCost",
    "MonthUsage",
    "Package",
    "advise",
    "find_package",
    "month_cost",
]


@dataclass(frozen=True)
class MonthUsage:
    """One month of a subscriber's domestic usage."""

    period: str
    voice_min: int = 0
    sms: int = 0
    data_kb: int = 0


@dataclass(frozen=True)
class MonthCost:
    package_code: str
    fee_fen: int
    voice_over_fen: int
    sms_over_fen: int
    data_over_fen: int

    @property
    def total_fen(self) -> int:
        return self.fee_fen + self.voice_over_fen + self.sms_over_fen + self.data_over_fen


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def month_cost(package: Package, usage: MonthUsage) -> MonthCost:
    """What the month would have cost on ``package``: its fee plus every unit beyond the
    allowance at the package's own overage price (data by started MB)."""
    voice_over = max(0, usage.voice_min - package.voice_min)
    sms_over = max(0, usage.sms - package.sms)
    data_over_mb = _ceil_div(max(0, usage.data_kb - package.data_kb), KB_PER_MB)
    return MonthCost(
        package.code,
        package.monthly_fee_fen,
        voice_over * package.voice_fen_per_min,
        sms_over * package.sms_fen_each,
        data_over_mb * package.data_fen_per_mb,
    )


@dataclass(frozen=True)
class PackageQuote:
    package_code: str
    package_name: str
    total_fen: int
    months: list[MonthCost]


@dataclass(frozen=True)
class Advice:
    """The cheapest package for the months looked at, and what it would have saved."""

    periods: list[str]
    current_code: str | None
    current_total_fen: int | None
    best_code: str
    best_name: str
    best_total_fen: int
    #: current − best over the months looked at; 0 when the current package is already best
    saving_fen: int | None
    #: every package, cheapest first
    quotes: list[PackageQuote]

    @property
    def switch(self) -> bool:
        return self.current_code is not None and self.best_code != self.current_code and bool(self.saving_fen)


def advise(current_code: str | None, months: Sequence[MonthUsage], catalog: Sequence[Package] = PACKAGES) -> Advice:
    """Price every package on the same usage and rank them.

    Ties go to the lower monthly fee (less committed spend), then to the catalog code, and the
    current package wins a tie with another: switching must save something.
    """
    if not months:
        raise ValueError("no usage to advise on")
    if not catalog:
        raise ValueError("the package catalog is empty")
    current = next((p for p in catalog if p.code == current_code), None)
    quotes = []
    for package in catalog:
        costs = [month_cost(package, m) for m in months]
        quotes.append(PackageQuote(package.code, package.name, sum(c.total_fen for c in costs), costs))

    def rank(q: PackageQuote) -> tuple[int, int, int, str]:
        fee = next(p.monthly_fee_fen for p in catalog if p.code == q.package_code)
        return (q.total_fen, 0 if current and q.package_code == current.code else 1, fee, q.package_code)

    quotes.sort(key=rank)
    best = quotes[0]
    current_total = next((q.total_fen for q in quotes if current and q.package_code == current.code), None)
    return Advice(
        periods=[m.period for m in months],
        current_code=current.code if current else None,
        current_total_fen=current_total,
        best_code=best.package_code,
        best_name=best.package_name,
        best_total_fen=best.total_fen,
        saving_fen=None if current_total is None else current_total - best.total_fen,
        quotes=quotes,
    )
