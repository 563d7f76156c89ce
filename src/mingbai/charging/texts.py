"""Texts sent from 10086 about money: deduction reminders (扣费提醒), objections, the network-entry
reminder (入网提醒) and traffic alerts (流量提醒).

The monthly deduction reminder is also built in SQL by the billing run (four million at a time);
:func:`monthly_reminder_parts` is the one place its wording lives, so both agree word for word.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mingbai.catalog.rules import BRAND_ZH, yuan
from mingbai.charging.packages import Package
from mingbai.clock import SHANGHAI
from mingbai.msisdn import mask_msisdn

SIGN = "中国移动"
OBJECTION_WORD = "YY"


def how_to_object(service_code: str) -> str:
    return f"有异议回复{OBJECTION_WORD}{service_code}停止扣费并核查"


def monthly_reminder_parts(month_zh: str) -> tuple[str, str, str, str]:
    """The fixed pieces around SP name + service name, amount and service code:
    ``a + sp + service + b + yuan + c + code + d``. Kept within one 70-character SMS for
    usual names: at 550 million reminders a month, a second segment each is not a detail."""
    return (
        "【扣费提醒】您订购的",
        f"业务{month_zh}信息费",
        f"元已扣除(中国移动代收)。有异议回复{OBJECTION_WORD}",
        f"停止扣费并核查。{SIGN}",
    )


def monthly_reminder(month_zh: str, sp_name: str, service_name: str, amount_fen: int, service_code: str) -> str:
    a, b, c, d = monthly_reminder_parts(month_zh)
    return f"{a}{sp_name}{service_name}{b}{yuan(amount_fen)}{c}{service_code}{d}"


def per_use_reminder(
    used_at: datetime, sp_name: str, service_name: str, amount_fen: int, quantity: int, service_code: str
) -> str:
    local = used_at.astimezone(SHANGHAI)
    times = f"({quantity}次)" if quantity > 1 else ""
    return (
        f"【扣费提醒】您{local.month}月{local.day}日使用{sp_name}{service_name}业务{times}"
        f"信息费{yuan(amount_fen)}元已扣除(中国移动代收)。{how_to_object(service_code)}。{SIGN}"
    )


def reminder_after_objection(sp_name: str, service_name: str, period_zh: str, amount_fen: int) -> str:
    """A deduction reminder still queued (for 08:00) when its charge was objected to: it says
    what has happened since, rather than inviting an objection already made."""
    return (
        f"【扣费提醒】您订购的{sp_name}{service_name}业务{period_zh}信息费{yuan(amount_fen)}元已扣除(中国移动代收);"
        f"您已提出异议,该业务已停止扣费,核查结果将短信告知。{SIGN}"
    )


def objection_accepted(sp_name: str, service_name: str, period_zh: str, amount_fen: int) -> str:
    return (
        f"您对{sp_name}{service_name}业务{period_zh}信息费{yuan(amount_fen)}元的异议已受理,该业务已为您停止扣费。"
        f"我们将为您核查,结果短信告知。{SIGN}"
    )


def objection_repeated(sp_name: str, service_name: str) -> str:
    return f"您对{sp_name}{service_name}业务扣费的异议此前已受理,正在核查中,无需重复发送。{SIGN}"


def objection_no_charge(service_code: str | None) -> str:
    what = f"业务代码为{service_code}的业务" if service_code else "任何业务"
    return f"未查到您{what}的扣费记录,无需提出异议。查询已订购业务请发送0000到10086。{SIGN}"


def objection_ambiguous(codes: Sequence[str]) -> str:
    listed = "、".join(f"{OBJECTION_WORD}{c}" for c in codes)
    return f"您近期有多项业务扣费,请指明业务:回复{listed}之一到10086。{SIGN}"


# -- 入网提醒 ------------------------------------------------------------------------------------


def package_terms(p: Package) -> str:
    allowances = []
    if p.voice_min:
        allowances.append(f"国内通话{p.voice_min}分钟")
    if p.sms:
        allowances.append(f"短信{p.sms}条")
    if p.data_mb:
        allowances.append(f"国内流量{p.data_mb}MB")
    included = f",含{'、'.join(allowances)}" if allowances else ""
    over = "超出后" if allowances else "资费"
    return (
        f"{p.name}(月费{yuan(p.monthly_fee_fen)}元{included};{over}通话{yuan(p.voice_fen_per_min)}元/分钟、"
        f"短信{yuan(p.sms_fen_each)}元/条、流量{yuan(p.data_fen_per_mb)}元/MB)"
    )


def entry_reminder(msisdn: str, brand: str, package: Package | None, services: Sequence[str]) -> str:
    plan = package_terms(package) if package else "未选定套餐,按标准资费计费"
    listed = ";".join(f"{i}.{s}" for i, s in enumerate(services, start=1)) if services else "无"
    return (
        f"【入网提醒】欢迎使用中国移动!您的号码{mask_msisdn(msisdn)}已开通,品牌{BRAND_ZH.get(brand, brand)},"
        f"套餐:{plan}。已订购的增值业务:{listed}。查询或退订业务请发送0000到10086。{SIGN}"
    )


# -- 流量提醒 ------------------------------------------------------------------------------------


def _mb(kb: int) -> str:
    return f"{kb / 1024:.1f}".rstrip("0").rstrip(".")


def data_first_use(package: Package | None) -> str:
    allowance = f"您的套餐含国内流量{package.data_mb}MB," if package and package.data_mb else ""
    return f"【流量提醒】您已开始使用手机上网(数据流量)。{allowance}超出部分按套餐外资费计费。{SIGN}"


def data_threshold(percent: int, used_kb: int, package: Package, month_zh: str | None = None) -> str:
    """``month_zh`` ("2026年4月") when the usage is of a month already over: "本月" would be false."""
    month = month_zh or "本月"
    if percent >= 100:
        lead = f"您{month}套餐内国内流量{package.data_mb}MB已用完(已用{_mb(used_kb)}MB)"
        tail = f"此后按{yuan(package.data_fen_per_mb)}元/MB计费"
    else:
        lead = f"您{month}已使用国内流量{_mb(used_kb)}MB,达到套餐内{package.data_mb}MB的{percent}%"
        tail = f"超出部分按{yuan(package.data_fen_per_mb)}元/MB计费"
    return f"【流量提醒】{lead},{tail}。{SIGN}"


def roaming_first_use() -> str:
    return f"【境外流量提醒】您正在境外使用数据流量,境外上网资费远高于国内。如不需要请在手机设置中关闭数据漫游。{SIGN}"


def roaming_step(used_kb: int, month_zh: str | None = None) -> str:
    month = month_zh or "本月"
    return f"【境外流量提醒】您{month}在境外已使用数据流量{_mb(used_kb)}MB,请留意费用。如不需要请关闭数据漫游。{SIGN}"
