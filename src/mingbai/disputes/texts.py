"""Every SMS a dispute sends: the amounts and the rule, in the subscriber's words (R8)."""

from __future__ import annotations

from mingbai.catalog.rules import yuan
from mingbai.disputes.rules import Rule

SIGN = "中国移动"

RULE_ZH: dict[str, str] = {
    Rule.billing_error: "计费差错",
    Rule.records_conflict: "计费记录不全或冲突",
    Rule.no_active_use: "无您主动使用该业务的记录",
    Rule.unverified_3d: "逾期3日未能查证",
    Rule.legitimate: "经查证费用属实",
    Rule.discretionary: "酌情退费",
}


def rule_zh(rule: str | None) -> str:
    return RULE_ZH.get(rule or "", "核查中")


def decided(what: str, rule: str, refund_fen: int, return_fen: int) -> str:
    if return_fen:
        return (
            f"您对{what}的费用争议已处理:{rule_zh(rule)},已退还信息费{yuan(refund_fen)}元,"
            f"并双倍返还{yuan(return_fen)}元,合计{yuan(refund_fen + return_fen)}元已存入您的话费账户。{SIGN}"
        )
    if refund_fen:
        return f"您对{what}的费用争议已处理:{rule_zh(rule)},已退还信息费{yuan(refund_fen)}元至您的话费账户。{SIGN}"
    return f"您对{what}的费用争议已处理:{rule_zh(rule)},该费用不予退还。如有疑问请拨打10086。{SIGN}"


def verifying(what: str, refunded_fen: int) -> str:
    if refunded_fen:
        return (
            f"您对{what}的费用争议已受理,已先行退还信息费{yuan(refunded_fen)}元至您的话费账户,"
            f"我们将继续核查,结果短信告知。{SIGN}"
        )
    return f"您对{what}的费用争议已受理,我们将在3日内核查,结果短信告知。{SIGN}"


def verified_after_refund(what: str) -> str:
    """Refund first, verify later: the charge proved legitimate, and nothing is taken back."""
    return f"您对{what}的费用争议已核查完毕:经查证费用属实,已为您退还的费用无需退回。{SIGN}"
