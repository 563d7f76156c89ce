"""What 10086 does with a subscriber's SMS, and keyword orders sent to an SP's number."""

from __future__ import annotations

from sqlalchemy import select

from mingbai.catalog.models import Service, Sp
from mingbai.catalog.service import find_service_by_keyword, sp_by_access_number
from mingbai.db import Ctx
from mingbai.errors import MingbaiError
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.router import Mo, MoRouter
from mingbai.messaging.service import Mt, enqueue, enqueue_many
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
from mingbai.subscriptions.models import Subscription


def register(router: MoRouter) -> None:
    """10086 (codes, menu choices, query, unsubscribe) and every SP's access number (keyword
    orders), each with its batch handler."""
    router.route("10086", handle_10086, batch=handle_10086_batch)
    router.fallback(handle_sp_number, batch=handle_sp_numbers_batch)


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
                enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.query_menu([]), mo_id=mo.mo_id)
            return "unsubscribe_all"
        case UnsubscribeCode(service_code=code):
            ended = service.unsubscribe(
                ctx, msisdn=msisdn, channel="sms", actor=actor, service_code=code, mo_id=mo.mo_id
            )
            if not ended:
                enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.td_unknown(code), mo_id=mo.mo_id)
            return "unsubscribe_code"
        case MenuChoice(numbers=numbers):
            return service.choose_from_menu(ctx, msisdn=msisdn, numbers=numbers, mo_id=mo.mo_id)
        case ConfirmCode(code=code):
            return "code_" + service.reply_code(ctx, msisdn=msisdn, code=code, mo_id=mo.mo_id).verdict
        case Unknown(reason=reason):
            enqueue(ctx, msisdn=msisdn, kind=MessageKind.REPLY, text=texts.help_text(reason), mo_id=mo.mo_id)
            return "help"
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def handle_10086_batch(ctx: Ctx, mos: list[Mo]) -> list[str | MingbaiError | None]:
    """Code replies, the second half of every order, decided together; other commands are left
    to :func:`handle_10086` (None)."""
    out: list[str | MingbaiError | None] = [None] * len(mos)
    codes: list[tuple[int, service.CodeReply]] = []
    for i, mo in enumerate(mos):
        command = parse_10086(mo.text, ctx.settings.code_digits)
        if isinstance(command, ConfirmCode):
            codes.append((i, service.CodeReply(mo.msisdn, command.code, mo.mo_id)))
    outcomes = service.reply_codes(ctx, [r for _, r in codes])
    for (i, _), outcome in zip(codes, outcomes, strict=True):
        out[i] = outcome if isinstance(outcome, MingbaiError) else "code_" + outcome.verdict
    return out


def handle_sp_number(ctx: Ctx, mo: Mo) -> str:
    """An MO to an SP's access number: its keyword places an order (channel ``sms``) that
    still needs the 10086 confirmation — sending a keyword is never consent to be charged."""
    label = handle_sp_numbers_batch(ctx, [mo])[0]
    assert isinstance(label, str)
    return label


def handle_sp_numbers_batch(ctx: Ctx, mos: list[Mo]) -> list[str | MingbaiError | None]:
    """Keyword orders to SP access numbers, placed together; "" for a number that is no SP's."""
    out: list[str | MingbaiError | None] = [""] * len(mos)
    sps: dict[str, Sp | None] = {}
    services: dict[tuple[str, str], Service | None] = {}
    orders: list[tuple[int, service.OrderRequest]] = []
    for i, mo in enumerate(mos):
        if mo.recipient not in sps:
            sps[mo.recipient] = sp_by_access_number(ctx, mo.recipient)
        sp = sps[mo.recipient]
        if sp is None:
            continue
        keyword = parse_keyword(mo.text)
        svc = None
        if keyword:
            if (mo.recipient, keyword) not in services:
                services[(mo.recipient, keyword)] = find_service_by_keyword(ctx, mo.recipient, keyword)
            svc = services[(mo.recipient, keyword)]
        if svc is None:
            text = texts.sp_keyword_unknown(sp.name, _active_with(ctx, mo.msisdn, sp.code))
            enqueue(ctx, msisdn=mo.msisdn, kind=MessageKind.REPLY, text=text, mo_id=mo.mo_id)
            out[i] = "sp_keyword_unknown"
            continue
        actor = f"subscriber:{mo.msisdn}"
        orders.append((i, service.OrderRequest(mo.msisdn, svc.code, "sms", actor, mo_id=mo.mo_id)))
    placed = service.place_orders(ctx, [r for _, r in orders])
    refusals: list[Mt] = []
    # the services a "pending already" refusal names, read once for the whole batch
    pending = {
        req.service_code
        for (_, req), result in zip(orders, placed, strict=True)
        if isinstance(result, MingbaiError) and result.code in ("pending_exists", "already_subscribed")
    }
    entries = service.catalog_entries(ctx, pending) if pending else {}
    for (i, req), result in zip(orders, placed, strict=True):
        if not isinstance(result, MingbaiError):
            out[i] = "sp_order"
            continue
        if result.code == "pending_exists":
            text = texts.pending_exists(entries[req.service_code].facts)
        elif result.code == "already_subscribed":
            text = texts.already_subscribed(entries[req.service_code].facts)
        else:
            text = texts.order_refused(_refusal_zh(result.code))
        refusals.append(Mt(req.msisdn, text, MessageKind.REPLY, mo_id=req.mo_id))
        out[i] = "sp_order_refused"
    enqueue_many(ctx, refusals)
    return out


def _refusal_zh(code: str) -> str:
    return {
        "already_subscribed": "您已订购该业务",
        "sp_suspended": "该业务提供商已暂停受理新订购",
        "service_suspended": "该业务已暂停受理",
        "subscriber_inactive": "您的号码当前状态不能订购业务",
    }.get(code, "请求无法受理")


def _active_with(ctx: Ctx, msisdn: str, sp_code: str) -> list[texts.ServiceFacts]:
    """The subscriber's active subscriptions with one SP, as texts name them."""
    codes = ctx.session.scalars(
        select(Subscription.service_code)
        .where(Subscription.msisdn == msisdn, Subscription.sp_code == sp_code, Subscription.status == "active")
        .order_by(Subscription.confirmed_at)
    ).all()
    entries = service.catalog_entries(ctx, set(codes)) if codes else {}
    return [entries[c].facts for c in codes if c in entries]
