"""Pure SMS rules: how long a text is on the air and how it is cut into parts.

An SMS holds 140 octets. Chinese text travels as UCS-2 (UTF-16 code units, two octets
each): 70 units in a single SMS, 67 per part once a 6-octet concatenation header (UDH) is
added. A character outside the BMP (most emoji) takes two units and must not be cut in half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from mingbai.clock import in_quiet_hours as in_quiet_hours  # the one definition; re-exported

SINGLE_UCS2 = 70
CONCAT_UCS2 = 67


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _take(text: str, start: int, budget: int) -> int:
    """Index after the longest run of ``text[start:]`` that fits in ``budget`` UTF-16 units."""
    end = min(len(text), start + budget)
    if max(text[start:end], default="") <= "\uffff":
        return end  # all in the BMP, one unit each: the common case, without a loop in Python
    used = 0
    i = start
    while i < len(text):
        cost = 2 if ord(text[i]) > 0xFFFF else 1
        if used + cost > budget:
            break
        used += cost
        i += 1
    return i


def split_concatenated(text: str) -> list[str]:
    """Parts of a concatenated SMS; the handset shows them joined as one message."""
    if ucs2_units(text) <= SINGLE_UCS2:
        return [text]
    parts: list[str] = []
    i = 0
    while i < len(text):
        j = _take(text, i, CONCAT_UCS2)
        parts.append(text[i:j])
        i = j
    return parts


_BREAKS = "；;。，,、\n "


def _chunks(text: str, budget: int) -> list[str]:
    chunks: list[str] = []
    i = 0
    while i < len(text):
        j = _take(text, i, budget)
        if j < len(text):
            # Prefer to end a part after a list item or sentence, as the seed's (1/2)… does,
            # if that keeps at least half of the part's room in use.
            cut = max(text.rfind(b, i, j) for b in _BREAKS)
            if cut >= 0 and ucs2_units(text[i : cut + 1]) >= budget // 2:
                j = cut + 1
        chunks.append(text[i:j])
        i = j
    return chunks


def numbered_parts(text: str, limit: int = SINGLE_UCS2) -> list[str]:
    """Separate SMS each prefixed "(i/n)", each within one SMS (the seed's monthly reminder).

    Each part stands alone on any handset, which is why the seed numbers them instead of
    relying on concatenation headers that older phones ignored.
    """
    if ucs2_units(text) <= limit:
        return [text]
    n = 2
    while True:
        budget = limit - len(f"({n}/{n})")
        chunks = _chunks(text, budget)
        if len(chunks) <= n:
            total = len(chunks)
            return [f"({k}/{total}){c}" for k, c in enumerate(chunks, start=1)]
        n = len(chunks)


def parts_for(text: str, segmentation: str) -> list[str]:
    """What goes on the air for an outbox row."""
    if segmentation == "numbered":
        return numbered_parts(text)
    return split_concatenated(text)


# -- SMPP: what goes on the air -------------------------------------------------------------
#
# Mingbai always submits UCS-2 (data_coding 8): Chinese needs it, and one alphabet keeps the
# part arithmetic above exact. A concatenated text travels as parts that each carry a 6-octet
# user data header (UDH: IEI 0x00, 8-bit reference, total, sequence); numbered texts travel as
# independent single SMS. The reference comes from the outbox id, so a part sent again after a
# crash joins the parts the handset already holds.

DATA_CODING_UCS2 = 8
ESM_CLASS_UDHI = 0x40


@dataclass(frozen=True)
class AirPart:
    """One submit_sm: part ``no`` of ``total`` (1-based), its text and its UDH (may be empty)."""

    no: int
    total: int
    text: str
    udh: bytes

    @property
    def payload(self) -> bytes:
        return self.udh + self.text.encode("utf-16-be")


def concat_ref(outbox_id: int) -> int:
    """The 8-bit concatenation reference of an outbox row: the same on every attempt."""
    return (outbox_id ^ (outbox_id >> 8)) & 0xFF


def concat_udh(ref: int, total: int, seq: int) -> bytes:
    if not (1 <= seq <= total <= 255):
        raise ValueError(f"part {seq} of {total} is not a valid concatenation position")
    return bytes((5, 0x00, 3, ref & 0xFF, total, seq))


def air_parts(text: str, segmentation: str, outbox_id: int) -> list[AirPart]:
    """The submit_sm payloads for an outbox row, in order."""
    pieces = parts_for(text, segmentation)
    total = len(pieces)
    if segmentation == "numbered" or total == 1:
        return [AirPart(i, total, p, b"") for i, p in enumerate(pieces, start=1)]
    ref = concat_ref(outbox_id)
    return [AirPart(i, total, p, concat_udh(ref, total, i)) for i, p in enumerate(pieces, start=1)]


def parse_udh(payload: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """Split a UDHI payload into ((ref, total, seq) or None, user data). 8- and 16-bit refs."""
    if not payload:
        return None, payload
    udh_len = payload[0]
    if udh_len + 1 > len(payload):
        raise ValueError("UDH longer than the message")
    header, rest = payload[1 : udh_len + 1], payload[udh_len + 1 :]
    i = 0
    concat: tuple[int, int, int] | None = None
    while i + 2 <= len(header):
        iei, ln = header[i], header[i + 1]
        data = header[i + 2 : i + 2 + ln]
        if iei == 0x00 and ln == 3:
            concat = (data[0], data[1], data[2])
        elif iei == 0x08 and ln == 4:
            concat = ((data[0] << 8) | data[1], data[2], data[3])
        i += 2 + ln
    return concat, rest


# -- outcomes ----------------------------------------------------------------------------------

#: outbox states: queued → submitting → submitted → delivered | undeliverable | expired;
#: rejected (the SMSC refused the submit for good); in_doubt (the submit may or may not have
#: reached the SMSC; settled by a receipt or resubmitted after a wait)
OPEN_STATES = ("queued", "submitting", "submitted", "in_doubt")
FINAL_STATES = ("delivered", "undeliverable", "expired", "rejected")
ALL_STATES = OPEN_STATES + FINAL_STATES

#: receipt ``stat:`` values (SMPP 3.4 appendix B) → outbox state; None = not final yet
RECEIPT_STATES: dict[str, str | None] = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "undeliverable",
    "REJECTD": "undeliverable",
    "DELETED": "undeliverable",
    "UNKNOWN": "undeliverable",
    "ACCEPTD": None,
    "ENROUTE": None,
}
#: the message_state TLV (0x0427) in the same words
MESSAGE_STATE_STAT = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


def receipt_outcome(stat: str) -> str | None:
    """The final outbox state a receipt's ``stat`` means, or None while the message travels."""
    return RECEIPT_STATES.get(stat.strip().upper()[:7], "undeliverable" if stat.strip() else None)


_SEVERITY = {"rejected": 4, "undeliverable": 3, "expired": 2, "delivered": 1}


def aggregate_parts(states: list[str | None], total: int) -> str | None:
    """A row's final state from its parts' states, once every part has one."""
    known = [s for s in states if s in _SEVERITY]
    if len(known) < total:
        return None
    return max(known, key=lambda s: _SEVERITY[s])


# -- submit_sm_resp statuses -----------------------------------------------------------------

ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
_THROTTLE = {ESME_RMSGQFUL, ESME_RTHROTTLED}
#: system error, submit failed, temporary application error: worth another try
_TRANSIENT = {0x08, 0x45, 0x64}


def classify_status(code: int) -> str:
    """ "ok", "throttle" (slow down and resend), "transient" (resend a few times) or "permanent"."""
    if code == 0:
        return "ok"
    if code in _THROTTLE:
        return "throttle"
    if code in _TRANSIENT:
        return "transient"
    return "permanent"


_BIND_ERRORS = {
    0x0D: "the SMSC refused the bind (ESME_RBINDFAIL): check system_id, password and that the account may bind",
    0x0E: "wrong password for system_id {system_id}, or no such system_id (ESME_RINVPASWD; some SMSCs, "
    "Jasmin among them, answer an unknown system_id so too)",
    0x0F: "unknown system_id {system_id} (ESME_RINVSYSID)",
    0x05: "system_id {system_id} is already bound and the SMSC allows no more sessions (ESME_RALYBND)",
    0x53: "the SMSC does not accept system_type {system_type!r} (ESME_RINVSYSTYP)",
    0x08: "the SMSC had a system error while binding (ESME_RSYSERR); it will be retried",
    0x58: "the SMSC throttled the bind (ESME_RTHROTTLED); it will be retried",
}


def bind_error_text(code: int, *, system_id: str, system_type: str = "") -> str:
    """A sentence an operator can act on for a bind_transceiver_resp error status."""
    template = _BIND_ERRORS.get(code, "the SMSC refused the bind with status 0x{code:08X}")
    return template.format(system_id=system_id, system_type=system_type, code=code)


# -- pacing ------------------------------------------------------------------------------------


@dataclass
class TokenBucket:
    """Messages per second with a small burst; time is passed in (monotonic seconds)."""

    rate: float
    burst: float
    tokens: float = 0.0
    at: float = 0.0

    def wait_for(self, now: float) -> float:
        """Seconds to wait before one more message may go; takes the token when it is 0."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class RateGovernor:
    """The send rate: the configured ceiling, halved on throttling, regained slowly (AIMD)."""

    ceiling: float
    floor: float = 1.0
    current: float = 0.0
    last_cut: float = -1e9
    last_raise: float = 0.0

    def __post_init__(self) -> None:
        if self.ceiling <= 0:
            raise ValueError("rate must be positive")
        self.current = self.current or self.ceiling
        self.floor = min(self.floor, self.ceiling)

    def throttled(self, now: float) -> float:
        # one cut per second: a window full of throttled answers is one signal, not fifty
        if now - self.last_cut >= 1.0:
            self.current = max(self.floor, self.current / 2)
            self.last_cut = now
            self.last_raise = now
        return self.current

    def accepted(self, now: float) -> float:
        if self.current < self.ceiling and now - self.last_cut >= 2.0 and now - self.last_raise >= 1.0:
            self.current = min(self.ceiling, self.current * 1.1 + 1)
            self.last_raise = now
        return self.current


def backoff_delay(failures: int, *, base: float = 1.0, cap: float = 60.0, jitter: float = 0.0) -> float:
    """Reconnect delay after ``failures`` failed attempts: 1, 2, 4 … ``cap`` seconds, plus jitter (0–1)."""
    grown: float = base * 2.0 ** max(0, failures - 1)
    return min(cap, grown) * (1.0 + 0.25 * jitter)


# -- quiet hours -------------------------------------------------------------------------------


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """ "21:00-08:00" → (21:00, 08:00); "" or "none" → None (no quiet hours)."""
    raw = text.strip().lower()
    if raw in ("", "none", "off"):
        return None
    try:
        a, b = raw.split("-")
        start, end = time.fromisoformat(a.strip()), time.fromisoformat(b.strip())
    except ValueError as exc:
        raise ValueError(f"quiet hours must look like 21:00-08:00, got {text!r}") from exc
    if start == end:
        raise ValueError("quiet hours must not start and end at the same time")
    return start, end


def waves(keys: Sequence[str]) -> list[list[int]]:
    """Split positions into waves holding each key at most once, keeping each key's order: a
    batch handles one message per subscriber at a time, so a later one sees what an earlier did."""
    out: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        wave = seen.get(key, -1) + 1
        seen[key] = wave
        if wave == len(out):
            out.append([])
        out[wave].append(i)
    return out
