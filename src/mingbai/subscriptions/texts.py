"""Texts sent from 10086, worded after seed 004's templates (R2, R4, R5).

Every text names the service, the SP and the price, and says how to unsubscribe; the
subscriber should never need to call to understand a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mingbai.catalog.rules import price_text, service_label, yuan
from mingbai.messaging.rules import SINGLE_UCS2, ucs2_units
from mingbai.msisdn import mask_msisdn
from mingbai.subscriptions.rules import Refusal

SIGN = "中国移动"
HOW_TO_UNSUBSCRIBE = "退订请拨打10086或发送0000到10086"
#: the seed's own words in the order reminder (R4): one SMS needs them this short
HOW_TO_UNSUBSCRIBE_SHORT = "退订请拨打10086"


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

    @property
    def free(self) -> bool:
        return self.billing == "free" or self.price_fen <= 0

    @property
    def named(self) -> str:
        """ "新浪的头条新闻业务", as the seed's order reminder names a service."""
        return f"{self.sp_name}的{self.name}业务"


# One SMS holds 70 UCS-2 characters. The seed's order reminder ("您已定制试用新浪的头条新闻业务,
# 信息费30元/月,由中国移动代收,客服电话9510567,当月免信息费,退订请拨打10086。中国移动") is 67: the
# texts below fit one SMS whenever the seed's wording would for the same service, SP, price and
# hotline (tests/unit/test_sms_lengths.py), and keep what R2/R4 require: service, SP, price,
# hotline, free period, how to unsubscribe.


def _fit(*candidates: str) -> str:
    """The first wording that fits one SMS (they say the same, each shorter); else the first."""
    for text in candidates:
        if ucs2_units(text) <= SINGLE_UCS2:
            return text
    return candidates[0]


def confirmation_request(
    s: ServiceFacts, code: str, ttl_minutes: int, gifter: str | None, *, reorder: bool = False
) -> str:
    """二次确认 (R2). A monthly re-order owes this month's fee at confirmation (no second free
    trial: :func:`mingbai.subscriptions.rules.first_charge_on`), and says so before the code."""
    who = f"{mask_msisdn(gifter)}为您赠送" if gifter else "您正在订购"
    if s.free:
        return _fit(
            f"{who}{s.named}(免费),客服电话{s.sp_hotline}。{ttl_minutes}分钟内回复验证码{code}确认订购。{SIGN}",
            f"{who}{s.named}(免费),客服{s.sp_hotline},回复验证码{code}确认订购。{SIGN}",
        )
    if reorder and s.billing == "monthly" and not gifter:
        fee = yuan(s.price_fen)
        # the code's lifetime is said when it fits; one SMS matters more (it expires either way)
        return _fit(
            f"您再次订购{s.named},{s.price},确认即收本月{fee}元(不再免费体验),"
            f"客服{s.sp_hotline}。{ttl_minutes}分钟内回复验证码{code}确认。{SIGN}",
            f"您再次订购{s.named},{s.price},确认即收本月{fee}元(不再免费体验),"
            f"客服{s.sp_hotline},回复验证码{code}确认。{SIGN}",
            f"再订{s.named},{s.price},确认即收本月{fee}元不再免费,客服{s.sp_hotline},回复验证码{code}确认。{SIGN}",
            f"再订{s.named},{s.price},确认即收本月费,客服{s.sp_hotline},回复验证码{code}确认。{SIGN}",
        )
    return _fit(
        f"{who}{s.named},{s.price},客服电话{s.sp_hotline}。{ttl_minutes}分钟内回复验证码{code}确认订购,不回复不收费。{SIGN}",
        f"{who}{s.named},{s.price},客服{s.sp_hotline}。{ttl_minutes}分钟内回复验证码{code}确认,不回复不收费。{SIGN}",
        f"{who}{s.named},{s.price},客服{s.sp_hotline},回复验证码{code}确认,不回复不收费。{SIGN}",
    )


def order_reminder(s: ServiceFacts, trial_wording: str, *, reorder: bool = False) -> str:
    """订购提醒: "您已定制试用新浪的头条新闻业务,信息费30元/月,…当月免信息费,退订请拨打10086。中国移动"."""
    if s.free:
        return f"您已定制{s.named}(免费),客服电话{s.sp_hotline},{HOW_TO_UNSUBSCRIBE_SHORT}。{SIGN}"
    if reorder and s.billing == "monthly":
        fee = yuan(s.price_fen)
        return _fit(
            f"您已定制{s.named},{s.price},本月{fee}元已于确认时收取(不再免费体验),"
            f"客服电话{s.sp_hotline},{HOW_TO_UNSUBSCRIBE_SHORT}。{SIGN}",
            f"您已定制{s.named},{s.price},本月{fee}元确认即收,不再免费体验,"
            f"客服{s.sp_hotline},{HOW_TO_UNSUBSCRIBE_SHORT}。{SIGN}",
            f"您已定制{s.named},{s.price},本月{fee}元确认即收,不再免费,"
            f"客服{s.sp_hotline},{HOW_TO_UNSUBSCRIBE_SHORT}。{SIGN}",
            f"已定制{s.named},{s.price},本月费确认即收,客服{s.sp_hotline},{HOW_TO_UNSUBSCRIBE_SHORT}。{SIGN}",
        )
    verb = "定制试用" if trial_wording else "定制"
    free = f"{trial_wording}," if trial_wording else ""
    return (
        f"您已{verb}{s.named},{s.price},由中国移动代收,客服电话{s.sp_hotline},{free}{HOW_TO_UNSUBSCRIBE_SHORT}。{SIGN}"
    )


def unsubscribed(services: Sequence[ServiceFacts]) -> str:
    if len(services) == 1:
        s = services[0]
        if s.free:
            return f"您已成功退订{s.named}。客服电话{s.sp_hotline}。{SIGN}"
        return f"您已成功退订{s.named},退订后不再收取该业务信息费。客服电话{s.sp_hotline}。{SIGN}"
    items = ";".join(f"{i}.{s.sp_name}的{s.name}" for i, s in enumerate(services, start=1))
    fees = "退订后不再收取信息费。" if any(not s.free for s in services) else ""
    return f"您已成功退订以下{len(services)}项业务:{items}。{fees}{SIGN}"


def query_menu(labels: Sequence[str]) -> str:
    if not labels:
        return f"您目前没有订购任何梦网业务,不会产生信息费。{SIGN}"
    if len(labels) == 1:
        return f"您已订购以下业务:1.{labels[0]}。回复1退订该业务。{SIGN}"
    items = ";".join(f"{i}.{label}" for i, label in enumerate(labels, start=1))
    example = "如回复1,或1 3" if len(labels) >= 3 else "如回复1,或1 2"
    return f"您已订购以下业务:{items}。回复序号退订对应业务({example}),回复00000退订全部。{SIGN}"


def monthly_reminder_head() -> str:
    return "中国移动温馨提示:您本月已定制以下梦网业务:"


def monthly_reminder_tail() -> str:
    return f"本月内退订下月不再收费,{HOW_TO_UNSUBSCRIBE}。"


def _waiting(services: Sequence[ServiceFacts]) -> str:
    if len(services) == 1:
        return services[0].named
    return f"{len(services)}项订购(" + "、".join(f"{s.sp_name}的{s.name}" for s in services) + ")"


def code_wrong(left: int, services: Sequence[ServiceFacts] = ()) -> str:
    """A wrong code counts against every order waiting; the answer says which they are."""
    if not services:
        return f"验证码不正确,订购未生效。请核对短信中的6位验证码后重新回复,您还可以尝试{left}次。{SIGN}"
    each = "均" if len(services) > 1 else ""
    return (
        f"验证码不正确,待确认的{_waiting(services)}{each}未生效,本次错误计入{'每项' if each else '该订购'}。"
        f"请核对验证码后重新回复,您还可以尝试{left}次。{SIGN}"
    )


def code_locked(services: Sequence[ServiceFacts] = ()) -> str:
    what = f"待确认的{_waiting(services)}" if services else "待确认的订购"
    return f"验证码错误次数过多,{what}已取消,不会收费。如需订购请重新办理。{SIGN}"


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


def sp_keyword_unknown(sp_name: str, active: Sequence[ServiceFacts] = ()) -> str:
    """An unknown word to an SP's access number: it ordered nothing, which is all it may claim.
    The subscriber's services from that SP are still active, and are named (with the way out)."""
    if not active:
        return f"未能识别您发送给{sp_name}的指令,本次未订购业务,不会因此收费。您未订购{sp_name}的业务。{SIGN}"
    names = "、".join(s.name for s in active)
    return (
        f"未能识别您发送给{sp_name}的指令,本次未订购新业务。您已订购{sp_name}的{names}业务,仍然有效;"
        f"退订请发送0000到10086。{SIGN}"
    )


def already_subscribed(s: ServiceFacts) -> str:
    """A keyword or order for a service the subscriber has: it stays as it is, and is charged."""
    price = "免费" if s.free else s.price
    return f"您已订购{s.named}({price}),订购有效,本次不重复订购。客服电话{s.sp_hotline},退订请发送0000到10086。{SIGN}"


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
