"""Texts sent from 10086, worded after seed 004's templates (R2, R4, R5).

Every text names the service, the SP and the price, and says how to unsubscribe; the
subscriber should never need to call to understand a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mingbai.catalog.rules import price_text, service_label
from mingbai.msisdn import mask_msisdn
from mingbai.subscriptions.rules import Refusal

SIGN = "中国移动"
HOW_TO_UNSUBSCRIBE = "退订请拨打10086或发送0000到10086"


@dataclass(frozen=True)
class ServiceFacts:
    """What a text needs to know about a service."""

    code: str
    name: str
    type: str
    billing: str
    price_fen: int
    sp_name: str
    sp_hotline: str

    @property
    def label(self) -> str:
        return service_label(self.sp_name, self.name, self.type)

    @property
    def price(self) -> str:
        return price_text(self.billing, self.price_fen)


def confirmation_request(s: ServiceFacts, code: str, ttl_minutes: int, gifter: str | None) -> str:
    who = f"{mask_msisdn(gifter)}为您赠送" if gifter else "您正在订购"
    return (
        f"{who}{s.label},{s.price},由中国移动代收,客服电话{s.sp_hotline}。"
        f"确认订购请在{ttl_minutes}分钟内回复验证码{code};不回复则不订购,不收费。{SIGN}"
    )


def order_reminder(s: ServiceFacts, trial_wording: str) -> str:
    """订购提醒: "您已定制试用新浪的头条新闻业务,信息费30元/月,…当月免信息费,退订请拨打10086。中国移动"."""
    verb = "定制试用" if trial_wording else "定制"
    free = f"{trial_wording}," if trial_wording else ""
    return (
        f"您已{verb}{s.sp_name}的{s.name}业务,{s.price},由中国移动代收,"
        f"客服电话{s.sp_hotline},{free}{HOW_TO_UNSUBSCRIBE}。{SIGN}"
    )


def unsubscribed(services: Sequence[ServiceFacts]) -> str:
    if len(services) == 1:
        s = services[0]
        return f"您已成功退订{s.sp_name}的{s.name}业务,退订后不再收取该业务信息费。客服电话{s.sp_hotline}。{SIGN}"
    items = ";".join(f"{i}.{s.sp_name}的{s.name}" for i, s in enumerate(services, start=1))
    return f"您已成功退订以下{len(services)}项业务:{items}。退订后不再收取信息费。{SIGN}"


def query_menu(labels: Sequence[str]) -> str:
    if not labels:
        return f"您目前没有订购任何梦网业务,不会产生信息费。{SIGN}"
    items = ";".join(f"{i}.{label}" for i, label in enumerate(labels, start=1))
    return f"您已订购以下业务:{items}。回复序号退订对应业务(如回复1,或1 3),回复00000退订全部。{SIGN}"


def monthly_reminder_head() -> str:
    return "中国移动温馨提示:您本月已定制以下梦网业务:"


def monthly_reminder_tail() -> str:
    return f"本月内退订下月不再收费,{HOW_TO_UNSUBSCRIBE}。"


def code_wrong(left: int) -> str:
    return f"验证码不正确,订购未生效。请核对短信中的6位验证码后重新回复,您还可以尝试{left}次。{SIGN}"


def code_locked() -> str:
    return f"验证码错误次数过多,待确认的订购已取消,不会收费。如需订购请重新办理。{SIGN}"


def code_expired(s: ServiceFacts) -> str:
    return f"验证码已过期,{s.sp_name}的{s.name}业务未订购,不会收费。如需订购请重新办理。{SIGN}"


def no_pending() -> str:
    return f"您目前没有待确认的订购。查询或退订已订业务请发送0000到10086。{SIGN}"


def menu_missing() -> str:
    return f"请先发送0000查询已订购业务,再回复序号退订。{SIGN}"


def menu_out_of_range(bad: Sequence[int], size: int) -> str:
    nums = "、".join(str(n) for n in bad)
    return f"序号{nums}不在列表中(共{size}项),未做任何退订。请发送0000重新查询。{SIGN}"


def menu_stale(numbers: Sequence[int]) -> str:
    nums = "、".join(str(n) for n in numbers)
    return f"序号{nums}对应的业务已退订,无需再次退订。发送0000可查询最新订购。{SIGN}"


def td_unknown(code: str) -> str:
    return f"您未订购业务代码为{code}的业务,无需退订。发送0000可查询已订购业务。{SIGN}"


def help_text(reason: str) -> str:
    lead = {
        "empty": "短信内容为空。",
        "too_long": "短信内容过长,无法识别。",
    }.get(reason, "未能识别您的指令。")
    return f"{lead}查询已订购业务请发送0000;全部退订发送00000;退订单项发送TD+业务代码;确认订购请回复6位验证码。{SIGN}"


def sp_keyword_unknown(sp_name: str) -> str:
    return f"未能识别您发送给{sp_name}的指令,未订购任何业务,不会收费。查询已订购业务请发送0000到10086。{SIGN}"


#: why a code's order was not taken after all, as its reply (and its event) says it
_REFUSAL_ZH = {
    Refusal.SP_SUSPENDED: "该业务提供商已暂停受理新订购",
    Refusal.SERVICE_SUSPENDED: "该业务已暂停受理",
    Refusal.ALREADY_SUBSCRIBED: "您已订购该业务",
    Refusal.PENDING_EXISTS: "该业务已有待确认的订购",
    Refusal.SUBSCRIBER_INACTIVE: "您的号码当前状态不能订购业务",
    Refusal.UNKNOWN_SUBSCRIBER: "未找到该号码",
    Refusal.UNKNOWN_SERVICE: "该业务不存在",
}


def refusal_reason(refusal: Refusal) -> str:
    return _REFUSAL_ZH[refusal]


def order_refused(reason: str) -> str:
    return f"订购未受理:{reason}。不会收费。{SIGN}"


def pending_exists(s: ServiceFacts) -> str:
    return f"您订购{s.sp_name}的{s.name}业务的请求正在等待确认,请回复此前短信中的验证码。{SIGN}"
