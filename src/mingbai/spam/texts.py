"""SMS texts of the 10086999 report service (zh-CN; one SMS each where possible)."""

from __future__ import annotations

REPORT_HELP = "举报垃圾短信请发送:垃圾短信号码*短信内容,到10086999。例如:10657000000*中奖通知…。中国移动"


def report_accepted(report_id: int) -> str:
    return f"您的举报已受理(编号{report_id}),我们将逐条核实处理,结果将短信告知。感谢您的举报!中国移动"


def report_referred(report_id: int, province: str) -> str:
    return f"您的举报已受理(编号{report_id}),该号码属{province},已转{province}移动核实处理。感谢您的举报!中国移动"


def report_confirmed(report_id: int) -> str:
    return f"您的举报(编号{report_id})经核实为垃圾短信,已对发送方依规处理。感谢您的举报!中国移动"


def report_rejected(report_id: int) -> str:
    return f"您的举报(编号{report_id})经核实暂未发现违规,如有疑问请拨打10086。感谢您的支持!中国移动"
