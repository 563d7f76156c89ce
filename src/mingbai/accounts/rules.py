"""Pure rules for signing in: masking, password policy, lockout, session lifetime.

No database and no clock: every function is given what it decides on (the list of common
passwords is read once from the package's own data).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from mingbai.msisdn import mask_msisdn

# -- masking (模糊化, R13) -------------------------------------------------------------------


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***, John Smith → J*********: keep only the first character."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_id_number(value: str) -> str:
    """430102199001011234 → 4301**********1234: region prefix and last four only."""
    value = value.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_subject(subject: str) -> str:
    """What logs and screens show of a sign-in name: a number masked, a username cut short."""
    digits = subject.strip()
    if digits.isdigit() and len(digits) >= 7:
        return mask_msisdn(digits)
    if len(subject) <= 2:
        return "*" * len(subject)
    return subject[:2] + "*" * min(len(subject) - 2, 6)


# -- staff accounts ---------------------------------------------------------------------------

USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD = 10
MAX_PASSWORD = 128


def check_username(username: str) -> str | None:
    """None when acceptable, else the reason."""
    if not USERNAME.fullmatch(username):
        return "username: 2–32 of a–z 0–9 . _ -, starting with a letter"
    return None


#: runs a person types without thinking: keyboard rows and columns, the alphabet, the digits
_RUNS = (
    "1234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "abcdefghijklmnopqrstuvwxyz",
    "1qaz",
    "2wsx",
    "3edc",
    "4rfv",
    "5tgb",
    "6yhn",
    "7ujm",
    "8ik,",
    "9ol.",
    "0p;/",
)
_RUN_TEXT = " ".join(_RUNS + tuple(r[::-1] for r in _RUNS))
#: what is left of a password once its runs (or its username) are taken out must be this long
_MIN_REST = 8
_REPEATED_UNIT = re.compile(r"(.+?)\1+")
_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")


@cache
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords, lower-cased (shipped with the package: data/NOTICE.md)."""
    raw = resources.files("mingbai.accounts").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(raw).decode().splitlines() if line.strip())


def _without_runs(text: str) -> str:
    """``text`` less every run of 3+ characters that is a keyboard or alphabet run."""
    out = []
    i = 0
    while i < len(text):
        j = i + 3
        if j <= len(text) and text[i:j] in _RUN_TEXT:
            while j < len(text) and text[i : j + 1] in _RUN_TEXT:
                j += 1
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def check_password(password: str, username: str) -> str | None:
    """None when acceptable, else the reason: long enough, not a common or breached password (or
    one with digits and signs around it), not only digits, not a repeated character or pattern,
    not a keyboard run, and not the username with little else."""
    if len(password) < MIN_PASSWORD:
        return f"password: at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"password: at most {MAX_PASSWORD} characters"
    lower = password.lower()
    name = username.lower()
    if lower == name or len(set(password)) < 4 or _REPEATED_UNIT.fullmatch(lower):
        return "password: too easy to guess"
    if password.isdigit():
        return "password: not only digits"
    common = common_passwords()
    core = _EDGES.sub("", lower)
    if lower in common or (len(core) >= 4 and core in common):
        return "password: one of the most common passwords, the first a guesser tries"
    if len(_without_runs(lower)) < 4:
        return "password: a keyboard or alphabet run"
    rest = lower.replace(name, "").replace(name[::-1], "") if len(name) >= 3 else lower
    if len(rest) < _MIN_REST:
        return "password: the username with too little else"
    return None


# -- rate limiting failed sign-ins ---------------------------------------------------------------

#: failures counted over this window (a quiet window starts the count again)
LOCKOUT_WINDOW = timedelta(minutes=15)
#: failures for one username or number from one address before it backs off
MAX_FAILURES_PER_SUBJECT = 5
#: failures from one address, whatever the account, before it backs off (password spraying)
MAX_FAILURES_PER_ADDRESS = 30
#: the first back-off; each further failure doubles it, up to BACKOFF_MAX
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(minutes=15)


def locked_out(subject_failures: int, address_failures: int) -> bool:
    """Whether counts of recent failures reach a threshold (account × address, or address)."""
    return subject_failures >= MAX_FAILURES_PER_SUBJECT or address_failures >= MAX_FAILURES_PER_ADDRESS


def backoff(failures: int, threshold: int) -> timedelta | None:
    """How long attempts wait after the ``failures``-th failure in a row (None: no wait).

    A delay rather than a lock: it holds one account × address pair (or one address), the
    attempts it refuses are not counted, and it ends by itself, so an attacker cannot keep the
    account's real user out (issue 12). It doubles per failure past the threshold."""
    if failures < threshold:
        return None
    delay: timedelta = BACKOFF_FIRST * 2 ** min(failures - threshold, 16)
    return min(delay, BACKOFF_MAX)


# -- one-time SMS sign-in codes -------------------------------------------------------------------

LOGIN_CODE_TTL = timedelta(minutes=5)
LOGIN_CODE_ATTEMPTS = 5
#: a new code may be asked for this long after the last one
LOGIN_CODE_RESEND = timedelta(seconds=60)
#: at most this many codes per number per hour (SMS bombing)
LOGIN_CODES_PER_HOUR = 5


def may_send_login_code(sent_last_hour: list[datetime], now: datetime) -> bool:
    if len(sent_last_hour) >= LOGIN_CODES_PER_HOUR:
        return False
    return not any(now - at < LOGIN_CODE_RESEND for at in sent_last_hour)


# -- sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    #: a session unused this long ends
    idle: timedelta
    #: a session ends this long after sign-in whatever happens
    absolute: timedelta


STAFF_SESSION = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=10))
SUBSCRIBER_SESSION = SessionPolicy(idle=timedelta(minutes=15), absolute=timedelta(hours=2))
#: last-seen is written at most this often, so reading pages does not write on every request
TOUCH_EVERY = timedelta(seconds=60)


def session_alive(created_at: datetime, last_seen_at: datetime, now: datetime, policy: SessionPolicy) -> bool:
    return now - last_seen_at < policy.idle and now - created_at < policy.absolute
