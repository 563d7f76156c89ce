"""The vault number (``MINGBAI_VAULT_NUMBER``, default 10086007): approvers reply to the code SMS
they got, from the phone it went to (R13)."""

from __future__ import annotations

from mingbai.db import Ctx
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.router import Mo, MoRouter
from mingbai.messaging.service import enqueue
from mingbai.vault.service import approve_by_sms

#: the default vault number; a platform whose settings name another registers that one
VAULT_NUMBER = "10086007"


def register(router: MoRouter, number: str = VAULT_NUMBER) -> None:
    router.route(number, handle_vault_number)


def handle_vault_number(ctx: Ctx, mo: Mo) -> str:
    reply = approve_by_sms(ctx, phone=mo.msisdn, text=mo.text)
    enqueue(ctx, msisdn=mo.msisdn, kind=MessageKind.REPLY, text=reply, mo_id=mo.mo_id, sender=mo.recipient)
    return "vault_reply"
