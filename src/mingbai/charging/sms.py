"""10086 learns one more word: an objection to a charge ("YY" + service code).

Registered by wrapping the subscription core's 10086 handler (``Platform.build_router``), so the
core's parser stays as it is: an objection is tried first, anything else goes on unchanged.
"""

from __future__ import annotations

from mingbai.charging.commands import parse_objection
from mingbai.charging.service import object_to_charge
from mingbai.db import Ctx
from mingbai.messaging.router import Mo, MoHandler


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
