"""The objection command a subscriber texts to 10086 after a deduction reminder, parsed
without side effects: "YY" + service code (异议), or "YY" alone for the latest charge."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Objection:
    """None: the latest charge (asked back when several services were charged lately)."""

    service_code: str | None


_OBJECTION = re.compile(r"(?:YY|异议)[\s:：]*([A-Z0-9_\-]{1,32})?")
#: longest text read as an objection; a longer one is left to the other 10086 commands
MAX_CHARS = 64


def parse_objection(text: str) -> Objection | None:
    if len(text) > MAX_CHARS:
        return None
    body = unicodedata.normalize("NFKC", text).strip().upper()
    m = _OBJECTION.fullmatch(body)
    if m is None:
        return None
    return Objection(m.group(1))
