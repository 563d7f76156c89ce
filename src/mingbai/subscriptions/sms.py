"""What 10086 does with a subscriber's SMS, and keyword orders sent to an SP's number."""

from __future__ import annotations

from mingbai.catalog.service import find_service_by_keyword, sp_by_access_number
from mingbai.db import Ctx
from mingbai.errors import MingbaiError
from mingbai.messaging.router import Mo
from mingbai.messaging.service import enqueue
from mingbai.subscriptions import service, texts
from mingbai.subscriptions.commands import (
    ConfirmCode,
    MenuChoice,
    Query,
    Unknown,
    UnsubscribeAll,
    UnsubscribeCode,
    parse_10086,
    parse_keyword,
)


def handle_10086(ctx: Ctx, mo: Mo) -> str:
    command = parse_10086(mo.text, ctx.settings.code_digits)
    msisdn = mo.msisdn
    actor = f"subscriber:{msisdn}"
    match command:
        case Query():
            service.query(ctx, msisdn=msisdn, mo_id=mo.mo_id)
            return "query"
        case UnsubscribeAll():
            ended = service.unsubscribe(ctx, msisdn=msisdn, channel="sms", actor=actor, mo_id=mo.mo_id)
            if not ended:
                enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.query_menu([]), mo_id=mo.mo_id)
            return "unsubscribe_all"
        case UnsubscribeCode(service_code=code):
            ended = service.unsubscribe(
                ctx, msisdn=msisdn, channel="sms", actor=actor, service_code=code, mo_id=mo.mo_id
            )
            if not ended:
                enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.td_unknown(code), mo_id=mo.mo_id)
            return "unsubscribe_code"
        case MenuChoice(numbers=numbers):
            return service.choose_from_menu(ctx, msisdn=msisdn, numbers=numbers, mo_id=mo.mo_id)
        case ConfirmCode(code=code):
            return "code_" + service.reply_code(ctx, msisdn=msisdn, code=code, mo_id=mo.mo_id).verdict
        case Unknown(reason=reason):
            enqueue(ctx, msisdn=msisdn, kind="reply", text=texts.help_text(reason), mo_id=mo.mo_id)
            return "help"
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def handle_sp_number(ctx: Ctx, mo: Mo) -> str:
    """An MO to an SP's access number: its keyword places an order (channel ``sms``) that
    still needs the 10086 confirmation — sending a keyword is never consent to be charged."""
    sp = sp_by_access_number(ctx, mo.recipient)
    if sp is None:
        return ""
    keyword = parse_keyword(mo.text)
    svc = find_service_by_keyword(ctx, mo.recipient, keyword) if keyword else None
    if svc is None:
        enqueue(ctx, msisdn=mo.msisdn, kind="reply", text=texts.sp_keyword_unknown(sp.name), mo_id=mo.mo_id)
        return "sp_keyword_unknown"
    try:
        service.place_order(
            ctx,
            msisdn=mo.msisdn,
            service_code=svc.code,
            channel="sms",
            actor=f"subscriber:{mo.msisdn}",
            mo_id=mo.mo_id,
        )
    except MingbaiError as exc:
        if exc.code == "pending_exists":
            text = texts.pending_exists(service.catalog_entry(ctx, svc.code).facts)
        else:
            text = texts.order_refused(_refusal_zh(exc.code))
        enqueue(ctx, msisdn=mo.msisdn, kind="reply", text=text, mo_id=mo.mo_id)
        return "sp_order_refused"
    return "sp_order"


def _refusal_zh(code: str) -> str:
    return {
        "already_subscribed": "您已订购该业务",
        "sp_suspended": "该业务提供商已暂停受理新订购",
        "service_suspended": "该业务已暂停受理",
        "subscriber_inactive": "您的号码当前状态不能订购业务",
    }.get(code, "请求无法受理")
