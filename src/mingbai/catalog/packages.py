"""The tariff packages (套餐) a subscriber can be on: part of the product catalog, so the catalog
import can refuse an unknown package; charging prices usage and advises over them
(``mingbai.charging.packages``). Pure: data and lookups, no database."""

from __future__ import annotations

from dataclasses import dataclass

KB_PER_MB = 1024


@dataclass(frozen=True)
class Package:
    code: str
    name: str
    monthly_fee_fen: int
    voice_min: int
    sms: int
    data_mb: int
    voice_fen_per_min: int
    sms_fen_each: int
    data_fen_per_mb: int

    @property
    def data_kb(self) -> int:
        return self.data_mb * KB_PER_MB


#: a small catalog in the shape of seed 001's GoTone line-up (上网套餐, 商旅套餐, 本地套餐) plus
#: the prepaid basics; prices in fen
PACKAGES: tuple[Package, ...] = (
    Package("BASIC", "神州行标准资费", 0, 0, 0, 0, 25, 10, 50),
    Package("MZ18", "动感地带18元套餐", 1800, 60, 200, 100, 25, 10, 30),
    Package("GT58", "全球通上网套餐58元", 5800, 150, 60, 500, 19, 10, 29),
    Package("GT88", "全球通商旅套餐88元", 8800, 450, 100, 200, 15, 10, 29),
    Package("GT128", "全球通128元套餐", 12800, 800, 200, 1024, 15, 10, 29),
)
PACKAGES_BY_CODE = {p.code: p for p in PACKAGES}


def find_package(code: str | None) -> Package | None:
    return PACKAGES_BY_CODE.get(code.strip().upper()) if code else None
