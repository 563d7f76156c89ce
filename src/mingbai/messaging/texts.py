"""What messaging itself says to a subscriber: the answers to an MO that was not taken."""

from __future__ import annotations

#: an MO a handler refused (its error code tells support what happened)
REFUSED = "您的请求未能受理({code})。查询已订购业务请发送0000到10086。中国移动"

#: an MO whose handling failed unexpectedly: it is kept, the subscriber may try again
BUSY = "系统繁忙,您的短信已记录,请稍后再试。中国移动"


def refused(code: str) -> str:
    return REFUSED.format(code=code)
