"""How the consoles show charges (R6): the agent console's and the subscriber portal's
charges and the bill's third-party (代收费) items.

The composition root (``web/app.py``) registers a source explicitly:
``consoles.install(app, charges=ChargingSource())``. Without one, pages say that charges are
not available instead of showing an empty bill that looks real. The consoles read charging;
charging knows nothing of the consoles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from starlette.requests import Request

from mingbai.charging.bill import bill
from mingbai.charging.service import list_charges
from mingbai.clock import local_midnight
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


class ChargingSource:
    """Charges and bills as the charging capability keeps them."""

    def charges(self, ctx: Ctx, *, msisdn: str, since: date) -> list[ChargeLine]:
        return [
            ChargeLine(c.occurred_at, c.period, c.service_code, c.service_name, c.sp_name, c.amount_fen, c.kind)
            for c in list_charges(ctx, msisdn=msisdn, since=local_midnight(since))
        ]

    def bill(self, ctx: Ctx, *, msisdn: str, period: str) -> BillSummary | None:
        b = bill(ctx, msisdn=msisdn, period=period)
        lines = [
            ChargeLine(
                local_midnight(item.day),
                b.period,
                svc.service_code,
                svc.service_name,
                sp.sp_name,
                item.amount_fen,
                item.kind,
            )
            for sp in b.third_party
            for svc in sp.services
            for item in svc.items
        ]
        return BillSummary(b.period, b.third_party_total_fen, lines)


def charge_source(request: Request) -> ChargeSource | None:
    """The source registered with :func:`mingbai.consoles.install`, if any."""
    source: ChargeSource | None = getattr(request.app.state, "charge_source", None)
    return source
