"""MSISDN validation: mainland China mobile numbers, stored as 11 digits."""

from __future__ import annotations

import re

from mingbai.errors import InvalidInput

_MSISDN = re.compile(r"1[3-9]\d{9}")


def normalize_msisdn(raw: str) -> str:
    """Return the 11-digit national form; accept +86 / 86 / 0086 prefixes and spaces or dashes."""
    if not isinstance(raw, str):
        raise InvalidInput("MSISDN must be text")
    digits = re.sub(r"[\s\-]", "", raw)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not _MSISDN.fullmatch(digits):
        raise InvalidInput(
            f"not a mobile number: {mask_msisdn(raw)!r} (11 digits starting 13–19, e.g. 13800138000)",
            code="bad_msisdn",
        )
    return digits


def is_msisdn(raw: str) -> bool:
    try:
        normalize_msisdn(raw)
    except InvalidInput:
        return False
    return True


def mask_msisdn(value: str) -> str:
    """138****5678: what logs and most screens show (R13)."""
    if len(value) >= 11 and value[-11:].isdigit():
        return value[:-8] + "****" + value[-4:]
    if len(value) > 4:
        return value[:2] + "*" * (len(value) - 4) + value[-2:]
    return "*" * len(value)
