"""No log line carries a whole MSISDN or a code, tracebacks included (issue 12)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

from mingbai.logmask import MaskingFilter, mask


def test_numbers_and_codes_are_masked_but_other_numbers_are_not():
    assert mask("MO from 13800138000 to 10086") == "MO from 138****8000 to 10086"
    assert mask("+8613912345678, 008613912345678") == "+86139****5678, 0086139****5678"
    assert mask("您的验证码123456,5分钟") == "您的验证码******,5分钟"
    # ids, amounts and service numbers stay as they are
    assert (
        mask("order 7212345678901234 for 1000 fen via 10668888") == "order 7212345678901234 for 1000 fen via 10668888"
    )
    assert mask("12345678901") == "12345678901"  # not a mobile number (12…)


def _logged(logger: logging.Logger) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("no subscriber 13800138000 (code 验证码654321)")
        except ValueError:
            logger.exception("MO from %s failed", "13900139000")
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_a_traceback_with_a_number_is_masked():
    text = _logged(logging.getLogger("mingbai.test.logmask"))
    assert "Traceback" in text and "ValueError" in text
    assert "138****8000" in text and "139****9000" in text and "验证码******" in text
    assert "13800138000" not in text and "13900139000" not in text and "654321" not in text


def test_install_masks_every_logger_of_the_process():
    """Installed (as the server and the CLI do), a library's own logger is masked too."""
    program = """
import logging, sys
from mingbai import logmask
logmask.install()
logging.basicConfig(stream=sys.stdout, level=logging.INFO)
log = logging.getLogger("uvicorn.error")
try:
    {}["13800138000"]
except KeyError:
    log.exception("request for %s failed", "13800138000")
"""
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    assert "KeyError" in out and "138****8000" in out
    assert "13800138000" not in out


def test_a_formatter_that_reads_the_arguments_still_works():
    """uvicorn's access log unpacks its record's five arguments: masked, they are kept (and the
    line masked); a number in an argument that is not text still turns the record into one
    masked message."""
    program = """
import io, logging, sys
from uvicorn.logging import AccessFormatter
from mingbai import logmask
logmask.install()
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
log = logging.getLogger("uvicorn.access")
log.addHandler(handler)
log.propagate = False
log.setLevel(logging.INFO)
log.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/handset?msisdn=13800138000", "1.1", 200)
plain = logging.getLogger("plain")
plain.addHandler(logging.StreamHandler(sys.stdout))
plain.propagate = False
plain.warning("number %d called", 13900139000)
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert "Logging error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert '"GET /handset?msisdn=138****8000 HTTP/1.1" 200' in done.stdout
    assert "number 139****9000 called" in done.stdout
    assert "13800138000" not in done.stdout + done.stderr and "13900139000" not in done.stdout + done.stderr
