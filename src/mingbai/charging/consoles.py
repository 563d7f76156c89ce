"""Charging's side of the consoles' seam (``consoles/charges.py``): charges and the bill's
third-party (代收费) items for the agent console and the subscriber portal."""

from __future__ import annotations

from datetime import date

from mingbai.charging.bill import bill
from mingbai.charging.service import list_charges
from mingbai.clock import local_midnight
from mingbai.consoles.charges import BillSummary, ChargeLine
from mingbai.db import Ctx


class ChargingSource:
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


SOURCE = ChargingSource()
