"""10086 learns one more word: an objection to a charge ("YY" + service code).

Registered by wrapping the subscription core's 10086 handler (:func:`register`, after the
subscriptions registered theirs), so the core's parser stays as it is: an objection is tried
first, anything else goes on unchanged.
"""

from __future__ import annotations

from mingbai.charging.commands import parse_objection
from mingbai.charging.service import object_to_charge
from mingbai.db import Ctx
from mingbai.messaging.router import Mo, MoHandler, MoRouter


def with_objections(inner: MoHandler) -> MoHandler:
    def handle(ctx: Ctx, mo: Mo) -> str:
        command = parse_objection(mo.text)
        if command is None:
            return inner(ctx, mo)
        outcome = object_to_charge(
            ctx,
            msisdn=mo.msisdn,
            channel="sms",
            actor=f"subscriber:{mo.msisdn}",
            service_code=command.service_code,
            mo_id=mo.mo_id,
            words=mo.text,
        )
        return f"objection_{outcome.verdict}"

    return handle


def register(router: MoRouter) -> None:
    """Objections on 10086. The 10086 batch handler takes only code replies (digits), never an
    objection ("YY" + code), so it stays as the subscriptions registered it."""
    router.wrap("10086", with_objections)
