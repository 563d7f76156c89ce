"""What the vault says by SMS (R13), zh-CN. Pure.

The subscriber's notice names the unit and the role of whoever looked, never the person; the
approver's message carries the request's one-time code (the outbox seals it, kind ``vault_code``).
"""

from __future__ import annotations

from datetime import datetime

from mingbai.clock import SHANGHAI
from mingbai.msisdn import mask_msisdn
from mingbai.vault.rules import ROLE_WORDS, Operation

#: what each operation is called in an SMS
OPERATION_WORDS = {
    Operation.CDR: "通话详单",
    Operation.LOCATION: "位置信息",
    Operation.IDENTITY: "实名身份信息",
    Operation.EXPORT: "批量导出",
    Operation.IDENTITY_CHANGE: "实名资料变更",
}
#: the longest reason an SMS quotes
SMS_REASON = 40


def _when(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y年%m月%d日%H:%M")


def _short(reason: str) -> str:
    return reason if len(reason) <= SMS_REASON else reason[: SMS_REASON - 1] + "…"


def role_words(role: str) -> str:
    return ROLE_WORDS.get(role, "工作人员")


def subject_words(operation: Operation, msisdn: str, params_text: str) -> str:
    if operation is Operation.EXPORT:
        return f"导出定义{params_text}"
    return f"用户{mask_msisdn(msisdn)}"


def approval_request(
    *, request_id: int, operation: Operation, subject: str, unit: str, role: str, reason: str, code: str, minutes: int
) -> str:
    """To each approver: what is asked, by whom (unit and role), why, and the code to reply with."""
    return (
        f"【金库审批】{unit}{role_words(role)}申请{OPERATION_WORDS[operation]}({subject}),"
        f"事由:{_short(reason)}。同意请回复验证码{code},{minutes}分钟内有效;"
        f"拒绝请在安全控制台操作。申请编号{request_id}。切勿转告他人。"
    )


def subscriber_notice(*, operation: Operation, unit: str, role: str, reason: str, at: datetime) -> str:
    """To the subscriber whose CDRs or location were queried: who (unit, role), when, why."""
    return (
        f"尊敬的客户,您的{OPERATION_WORDS[operation]}于{_when(at)}被{unit}{role_words(role)}查询,"
        f"事由:{_short(reason)}。如非您本人授权或有疑问,请拨打10086。中国移动"
    )


def break_glass_alert(*, request_id: int, operation: Operation, subject: str, unit: str, role: str, reason: str) -> str:
    """To the security approvers: an access without approval happened and waits for their review."""
    return (
        f"【金库紧急访问】{unit}{role_words(role)}未经审批访问了{OPERATION_WORDS[operation]}({subject}),"
        f"事由:{_short(reason)}。请在安全控制台复核,编号{request_id}。"
    )


REPLY_APPROVED = "金库申请{request_id}已批准。"
REPLY_WAITING = "已记录您对金库申请{request_id}的批准,还需另一位审批人批准。"
REPLY_UNKNOWN = "验证码无效或已过期,请核对后重发,或在安全控制台处理。"
REPLY_NOT_APPROVER = "本号码未登记为金库审批人,短信未处理。"
REPLY_HELP = "请回复6位金库审批验证码以批准申请;拒绝请在安全控制台操作。"
REPLY_REFUSED = "金库申请{request_id}不能由您批准:{why}"
