"""The seam where charging (R6, built on its own branch) shows its data in the consoles.

The consoles ask :func:`charge_source` for charges and bills. Until the charging capability
provides ``mingbai.charging.consoles.SOURCE`` (an object with the two methods below), pages
say that charges are not available yet instead of showing an empty bill that looks real.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from mingbai.db import Ctx


@dataclass(frozen=True)
class ChargeLine:
    charged_at: datetime
    period: str  # YYYY-MM
    service_code: str
    service_name: str
    sp_name: str
    amount_fen: int
    #: monthly | per_use | refund | …
    kind: str


@dataclass(frozen=True)
class BillSummary:
    period: str
    total_fen: int
    #: per SP and service (代收费), as the bill prints them
    lines: list[ChargeLine]


class ChargeSource(Protocol):
    def charges(self, ctx: Ctx, *, msisdn: str, since: date) -> list[ChargeLine]: ...

    def bill(self, ctx: Ctx, *, msisdn: str, period: str) -> BillSummary | None: ...


def charge_source() -> ChargeSource | None:
    try:
        module = importlib.import_module("mingbai.charging.consoles")
    except ModuleNotFoundError:
        return None
    source: ChargeSource | None = getattr(module, "SOURCE", None)
    return source
