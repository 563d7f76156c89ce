"""Logs never carry a whole mobile number nor a one-time code (issue 12, R13).

:func:`install` wraps the log-record factory, so every record of every logger (ours, uvicorn's,
a library's) is masked where it is made, before any handler sees it: the message with its
arguments, the traceback of ``log.exception`` and a stack. A number becomes ``138****5678``
(as :func:`mingbai.msisdn.mask_msisdn`), a code after 验证码 becomes ``******``. The server
(``mingbai serve``), the SMS gateway and the CLI install it at start.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

#: an 11-digit mainland mobile number, alone or with a +86 / 0086 / 86 prefix, not inside a longer number
_MSISDN = re.compile(r"(?<![\d])((?:\+86|0086|86)?1[3-9]\d)\d{4}(\d{4})(?![\d])")
#: a one-time code in an SMS text
_CODE = re.compile(r"(验证码\D{0,3})\d{4,8}")

_installed = False
_lock = threading.Lock()


def mask(text: str) -> str:
    return _CODE.sub(r"\1******", _MSISDN.sub(r"\1****\2", text))


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record in place, the traceback formatted now (masked) so no handler formats the
    clear one later. The message keeps its arguments, each masked, when they still make the
    masked message: formatters that read them (uvicorn's access log unpacks its five) go on
    working. Otherwise (a number in a non-text argument, or split across two) message and
    arguments become one masked message."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it for logging's own error report
        return record
    masked = mask(message)
    if not _mask_args(record, masked):
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask(record.exc_text)
        # the formatted text stands in for it; an exception's own args keep the clear number
        record.exc_info = None
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


def _mask_args(record: logging.LogRecord, masked: str) -> bool:
    """Mask a record's message and each of its text arguments apart; True if, so masked, they
    render exactly the masked message (then the record keeps its arguments)."""
    args = record.args
    if not isinstance(args, tuple) or not args or not isinstance(record.msg, str):
        return False
    msg = mask(record.msg)
    kept = tuple(mask(a) if isinstance(a, str) else a for a in args)
    try:
        if msg % kept != masked:
            return False
    except (TypeError, ValueError, KeyError):
        return False
    record.msg, record.args = msg, kept
    return True


class MaskingFilter(logging.Filter):
    """The same masking as a filter, for a handler configured elsewhere (dictConfig)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install() -> None:
    """Mask every log record this process makes from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        make = logging.getLogRecordFactory()

        def masked(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return mask_record(make(*args, **kwargs))

        logging.setLogRecordFactory(masked)
        _installed = True
