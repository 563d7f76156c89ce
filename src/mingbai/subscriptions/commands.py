"""What a subscriber can text to 10086, parsed without side effects (R2, R5)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    """ "0000": list every subscription, numbered."""


@dataclass(frozen=True)
class UnsubscribeAll:
    """ "00000": unsubscribe everything."""


@dataclass(frozen=True)
class UnsubscribeCode:
    """ "TD" + service code."""

    service_code: str


@dataclass(frozen=True)
class MenuChoice:
    """ "1" or "1 3": numbers from the last "0000" list."""

    numbers: tuple[int, ...]


@dataclass(frozen=True)
class ConfirmCode:
    """The one-time code of a pending order."""

    code: str


@dataclass(frozen=True)
class Unknown:
    reason: str  # "empty" | "too_long" | "unrecognised"


Command = Query | UnsubscribeAll | UnsubscribeCode | MenuChoice | ConfirmCode | Unknown

#: longest text we try to read as a command; anything longer is answered with help
MAX_COMMAND_CHARS = 160
_MENU = re.compile(r"[0-9]{1,3}(?:[\s,，、;；]+[0-9]{1,3})*")
_TD = re.compile(r"TD\s*([A-Z0-9_\-]{1,32})")


def _normalise(text: str) -> str:
    # Full-width digits and letters (０００００, ＴＤ) are common from Chinese input methods.
    return unicodedata.normalize("NFKC", text).strip().upper()


def parse_10086(text: str, code_digits: int = 6) -> Command:
    if len(text) > MAX_COMMAND_CHARS:
        return Unknown("too_long")
    body = _normalise(text)
    if not body:
        return Unknown("empty")
    if body == "0000":
        return Query()
    if body == "00000":
        return UnsubscribeAll()
    if len(body) == code_digits and body.isdigit() and body.isascii():
        return ConfirmCode(body)
    if _MENU.fullmatch(body):
        numbers = tuple(dict.fromkeys(int(n) for n in re.findall(r"[0-9]+", body)))
        if all(n >= 1 for n in numbers):
            return MenuChoice(numbers)
        return Unknown("unrecognised")
    m = _TD.fullmatch(body)
    if m:
        return UnsubscribeCode(m.group(1))
    return Unknown("unrecognised")


def parse_keyword(text: str) -> str:
    """An MO to an SP's access number: the keyword is its first word, case-insensitive."""
    body = _normalise(text)
    return body.split()[0] if body else ""
