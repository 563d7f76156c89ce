"""The MO handler for 10086999: a subscriber forwards spam, we accept and acknowledge it."""

from __future__ import annotations

from mingbai.db import Ctx
from mingbai.messaging.router import Mo, MoRouter
from mingbai.spam.reports import receive_report


def handle_10086999(ctx: Ctx, mo: Mo) -> str:
    report = receive_report(ctx, msisdn=mo.msisdn, text=mo.text, mo_id=mo.mo_id)
    if report is None:
        return "report_help"
    return "report_referred" if report.status == "referred" else "report_accepted"


def register(router: MoRouter) -> None:
    router.route("10086999", handle_10086999)
