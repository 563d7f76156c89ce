"""Pure rules of spam governance (R12): strategies, port states and sanctions, report parsing.

Nothing here touches the database or the clock; times come in as arguments.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from mingbai.errors import InvalidInput

PORT_TYPES = ("person", "industry", "international")
VERDICTS = ("block", "review", "pass")

# -- strategies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """One version of the interception strategy: thresholds, rule switches, model version.

    Scores are in [0, 1]; each triggered rule adds its ``*_boost`` to the linear score
    (log-odds) before the thresholds are applied, so rules make the content model stricter
    rather than blocking a person's message on volume alone. Hard rules (closed port,
    unsigned or unregistered industry port, blocked sender) block whatever the content.
    """

    version: int = 1
    model_version: str = ""
    #: None: use the thresholds the model chose on held-out folds when it was trained
    block_at: float | None = None
    review_at: float | None = None
    # switches
    content: bool = True
    port_rules: bool = True
    behaviour: bool = True
    near_duplicates: bool = True
    block_unregistered_ports: bool = True
    #: sender behaviour applies to these port types (industry ports send in bulk by nature)
    behaviour_port_types: tuple[str, ...] = ("person", "international")
    # sender behaviour thresholds
    max_per_minute: int = 20
    max_recipients_per_hour: int = 60
    burst_recipients: int = 15
    burst_window_seconds: int = 600
    # boosts, in log-odds
    rate_boost: float = 2.0
    fanout_boost: float = 2.5
    burst_boost: float = 2.5
    international_boost: float = 0.5
    warned_port_boost: float = 1.0
    penalised_port_boost: float = 2.5
    watched_sender_boost: float = 2.0
    # sanctions from confirmed reports within the window
    sanction_window_days: int = 30
    port_warn_after: int = 3
    port_penalise_after: int = 6
    port_close_after: int = 10
    sender_watch_after: int = 2
    sender_block_after: int = 5

    def thresholds(self, model_block: float, model_review: float) -> tuple[float, float]:
        block = self.block_at if self.block_at is not None else model_block
        review = self.review_at if self.review_at is not None else model_review
        return block, min(review, block)

    def config(self) -> dict[str, Any]:
        """The stored form: every field but the version (which is the row's key)."""
        raw = dataclasses.asdict(self)
        raw.pop("version")
        raw["behaviour_port_types"] = list(self.behaviour_port_types)
        return raw


_FIELDS = {f.name: f for f in dataclasses.fields(Strategy) if f.name != "version"}
_PROB_FIELDS = ("block_at", "review_at")
_POSITIVE_INT = {
    "max_per_minute",
    "max_recipients_per_hour",
    "burst_recipients",
    "burst_window_seconds",
    "sanction_window_days",
    "port_warn_after",
    "port_penalise_after",
    "port_close_after",
    "sender_watch_after",
    "sender_block_after",
}


def strategy_from_config(version: int, config: dict[str, Any], base: Strategy | None = None) -> Strategy:
    """Validate a strategy config (a partial one is laid over ``base``); clear errors only."""
    if not isinstance(config, dict):
        raise InvalidInput("a strategy config is a JSON object")
    unknown = sorted(set(config) - set(_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown strategy settings: {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}")
    values: dict[str, Any] = dataclasses.asdict(base or Strategy())
    for name, raw in config.items():
        values[name] = _coerce(name, raw)
    values["version"] = version
    values["behaviour_port_types"] = tuple(values["behaviour_port_types"])
    strategy = Strategy(**values)
    if strategy.block_at is not None and strategy.review_at is not None and strategy.review_at > strategy.block_at:
        raise InvalidInput("review_at must not exceed block_at")
    if not strategy.port_warn_after <= strategy.port_penalise_after <= strategy.port_close_after:
        raise InvalidInput("port sanctions must escalate: port_warn_after ≤ port_penalise_after ≤ port_close_after")
    if strategy.sender_watch_after > strategy.sender_block_after:
        raise InvalidInput("sender_watch_after must not exceed sender_block_after")
    return strategy


def _coerce(name: str, raw: Any) -> Any:
    default = getattr(Strategy(), name)
    if name in _PROB_FIELDS:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < float(raw) < 1:
            raise InvalidInput(f"{name} must be a score strictly between 0 and 1, or null for the model's")
        return float(raw)
    if name == "behaviour_port_types":
        if not isinstance(raw, (list, tuple)) or any(p not in PORT_TYPES for p in raw):
            raise InvalidInput(f"behaviour_port_types must be a list drawn from {', '.join(PORT_TYPES)}")
        return tuple(dict.fromkeys(raw))
    if isinstance(default, bool):
        if not isinstance(raw, bool):
            raise InvalidInput(f"{name} must be true or false")
        return raw
    if isinstance(default, int):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidInput(f"{name} must be a whole number")
        if name in _POSITIVE_INT and not 1 <= raw <= 10_000_000:
            raise InvalidInput(f"{name} must be between 1 and 10000000")
        return raw
    if isinstance(default, float):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not -20 <= float(raw) <= 20:
            raise InvalidInput(f"{name} must be a number between -20 and 20 (log-odds)")
        return float(raw)
    if isinstance(default, str):
        if not isinstance(raw, str) or not 0 < len(raw) <= 64:
            raise InvalidInput(f"{name} must be a name of 1–64 characters")
        return raw
    raise InvalidInput(f"cannot set {name}")  # pragma: no cover - every field type is handled above


def parse_setting(assignment: str) -> tuple[str, Any]:
    """``name=value`` from the command line: true/false, null, numbers, comma lists, names."""
    name, sep, raw = assignment.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InvalidInput(f"expected name=value, got {assignment!r}")
    raw = raw.strip()
    value: Any
    if raw.lower() in ("true", "on", "yes"):
        value = True
    elif raw.lower() in ("false", "off", "no"):
        value = False
    elif raw.lower() in ("null", "none", "model"):
        value = None
    elif name == "behaviour_port_types":
        value = [p.strip() for p in raw.split(",") if p.strip()]
    else:
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = raw
    return name, value


# -- ports ---------------------------------------------------------------------------------------

PORT_STATES = ("active", "warned", "penalised", "closed")
_SEVERITY = {state: i for i, state in enumerate(PORT_STATES)}
_PORT = re.compile(r"\d{3,21}")


def validate_port(port: str) -> str:
    port = port.strip()
    if not _PORT.fullmatch(port):
        raise InvalidInput(f"a port is 3–21 digits (e.g. 1065750012345), got {port!r}", code="bad_port")
    return port


def validate_signature(signature: str) -> str:
    sig = signature.strip().removeprefix("【").removesuffix("】").strip()
    if not 1 <= len(sig) <= 24 or any(c in sig for c in "【】"):
        raise InvalidInput("a signature is the 1–24 character name shown in 【…】, e.g. 工商银行", code="bad_signature")
    return sig


def escalated_port_state(current: str, confirmed: int, strategy: Strategy) -> str:
    """The state a port deserves after ``confirmed`` confirmed reports in the window.

    Sanctions only escalate automatically; lifting one is a person's decision.
    """
    deserved = "active"
    if confirmed >= strategy.port_close_after:
        deserved = "closed"
    elif confirmed >= strategy.port_penalise_after:
        deserved = "penalised"
    elif confirmed >= strategy.port_warn_after:
        deserved = "warned"
    return deserved if _SEVERITY[deserved] > _SEVERITY.get(current, 0) else current


def escalated_sender_state(current: str | None, confirmed: int, strategy: Strategy) -> str | None:
    deserved: str | None = None
    if confirmed >= strategy.sender_block_after:
        deserved = "blocked"
    elif confirmed >= strategy.sender_watch_after:
        deserved = "watched"
    order = {None: 0, "cleared": 0, "watched": 1, "blocked": 2}
    return deserved if order[deserved] > order.get(current, 0) else current


# -- reports to 10086999 ---------------------------------------------------------------------------

#: "号码*内容" is the format 10086999 announces; people also write "举报" (or "投诉"), a label
#: ("号码:", "发送方:", "来自"), a colon, a comma or a plain space, put the sender after the
#: content ("内容*号码", "内容 来自号码", "内容 号码"), or send only the text
_PREFIX = re.compile(r"^\s*(?:举报|投诉)(?:垃圾短信)?\s*[:：]?\s*")
_LABEL = r"(?:(?:举报|发送|发信|发件|来信)?号码|发送方|发送人|发信人|发件人|来自|sender|from)"
_NUMBER = r"(\+?\d[\d\- ]{2,24}\d)"
_LEADING = re.compile(rf"^(?:{_LABEL}\s*[:：]?\s*)?{_NUMBER}(?:\s*[*＊#＃:：,，;；]\s*|\s+(?=\D))(.*)$", re.S | re.I)
_TRAILING = re.compile(rf"^(.*?\S)(?:\s*[*＊#＃]\s*|\s*[,，;；]?\s*{_LABEL}\s*[:：]?\s*|\s+){_NUMBER}\s*$", re.S | re.I)
_CONTENT_LABEL = re.compile(r"^(?:短信)?内容\s*[:：]\s*")
#: a sender given only by a space must look like a number (a port or a phone), not "2026 年"
_MIN_SPACED_SENDER = 5


@dataclass(frozen=True)
class ReportText:
    sender: str | None
    content: str


def _sender(raw: str) -> str:
    sender = re.sub(r"[\s\-]", "", raw)
    return sender[3:] if sender.startswith("+86") else sender


def _spaced_only(separator: str) -> bool:
    return not separator.strip()


def parse_report(text: str) -> ReportText:
    """Split a report SMS into the reported sender (when given) and the forwarded content."""
    text = text.strip()
    body = _PREFIX.sub("", text, count=1)
    m = _LEADING.match(body)
    if m:
        spaced = _spaced_only(body[m.end(1) : m.start(2)])
        sender = _sender(m.group(1))
        if not spaced or len(sender) >= _MIN_SPACED_SENDER:
            return ReportText(sender=sender, content=_CONTENT_LABEL.sub("", m.group(2).strip(), count=1))
    m = _TRAILING.match(body)
    if m:
        spaced = _spaced_only(body[m.end(1) : m.start(2)])
        sender = _sender(m.group(2))
        if not spaced or len(sender) >= _MIN_SPACED_SENDER:
            return ReportText(sender=sender, content=_CONTENT_LABEL.sub("", m.group(1).strip(), count=1))
    bare = re.fullmatch(_NUMBER, body)
    if bare and body != text:  # "举报 106900001": a sender and nothing forwarded
        return ReportText(sender=_sender(bare.group(1)), content="")
    return ReportText(sender=None, content=body)


# -- check input (CLI lines, HTTP bodies) -----------------------------------------------------------

_SENDER = re.compile(r"\+?\d{3,20}")
_RECIPIENT = re.compile(r"\+?\d{3,20}")
MAX_TEXT = 10_000


@dataclass(frozen=True)
class CheckInput:
    sender: str
    recipient: str
    text: str
    port_type: str


def check_input(raw: Any) -> CheckInput:
    """Validate one message to check: ``{"sender", "recipient", "text", "port_type"}``.

    ``port_type`` is person (default), industry or international. Numbers are digits with
    an optional leading +; the text may be empty (an empty SMS is still a message).
    """
    if not isinstance(raw, dict):
        raise InvalidInput("each message is a JSON object with sender, recipient, text and port_type")
    unknown = sorted(set(raw) - {"sender", "recipient", "text", "port_type", "id"})
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(unknown)}")
    sender, recipient, text = raw.get("sender"), raw.get("recipient"), raw.get("text")
    port_type = raw.get("port_type", "person")
    if not isinstance(sender, str) or not _SENDER.fullmatch(sender.strip()):
        raise InvalidInput("sender must be a number of 3–20 digits, optionally with a leading +")
    if not isinstance(recipient, str) or not _RECIPIENT.fullmatch(recipient.strip()):
        raise InvalidInput("recipient must be a number of 3–20 digits, optionally with a leading +")
    if not isinstance(text, str):
        raise InvalidInput("text must be a string")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text longer than {MAX_TEXT} characters")
    if port_type not in PORT_TYPES:
        raise InvalidInput(f"port_type must be one of {', '.join(PORT_TYPES)}")
    return CheckInput(sender.strip(), recipient.strip(), text, port_type)


def parse_check_line(line: str) -> CheckInput:
    """One line of ``mingbai spam check`` input: a JSON object (JSON Lines)."""
    import json

    try:
        raw = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"not JSON: {exc}") from None
    return check_input(raw)
