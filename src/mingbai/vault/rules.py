"""The vault's rules (金库模式, R13): which operations are sensitive, who may ask and who may
approve, what makes two principals the same person, and the state machine of a request.

Pure: no database, no clock of its own (``now`` is passed in).

**Identity.** Every principal the vault sees is reduced to one identity string,
``staff:<username>`` (lower case, trimmed):

- a console session: its staff user's username;
- an API key: its label. A key is labelled for the person it was issued to, so a key labelled
  ``alice`` *is* alice (its requests are hers, and she could not approve them were she an approver);
- the CLI: the ``--as`` username (a staff user that must exist and be active);
- an SMS reply: the staff user whose code it answers, checked against the sending phone.

Two identities are **the same person** when the strings are equal, or when both are tied to the
same phone number (one person with two accounts). The requester never approves, denies or
reviews their own request, and no one the same person as them does.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from mingbai.clock import parse_instant
from mingbai.errors import Conflict, Forbidden, InvalidInput
from mingbai.msisdn import normalize_msisdn


class Operation(StrEnum):
    #: call detail records (详单) of one subscriber for a date range
    CDR = "cdr"
    #: the subscriber's location records (cell, time) for a date range
    LOCATION = "location"
    #: name and ID number unmasked
    IDENTITY = "identity"
    #: bulk export of subscribers or subscriptions: one export definition (its filters)
    EXPORT = "export"
    #: change the subscriber's registered identity data
    IDENTITY_CHANGE = "identity_change"


#: operations on one subscriber (all but the export)
SUBSCRIBER_OPERATIONS = frozenset({Operation.CDR, Operation.LOCATION, Operation.IDENTITY, Operation.IDENTITY_CHANGE})
#: operations the subscriber is told of by SMS (seed 002: 通话详单、个人位置)
NOTIFIED_OPERATIONS = frozenset({Operation.CDR, Operation.LOCATION})
#: operations over a date range
RANGED_OPERATIONS = frozenset({Operation.CDR, Operation.LOCATION})


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    USED = "used"


class Review(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    ESCALATED = "escalated"


#: roles that may ask for a sensitive operation
REQUESTER_ROLES = frozenset({"agent", "hall", "supervisor", "operator"})
#: roles that approve, deny and review (the second person)
APPROVER_ROLES = frozenset({"security"})
#: the longest date range one CDR or location request may cover
MAX_RANGE_DAYS = 92
REASON_MIN, REASON_MAX = 4, 200
#: what a subscriber is told about who looked: the role as people say it (never a name)
ROLE_WORDS = {"agent": "客服坐席", "hall": "营业厅营业员", "supervisor": "客服班长", "operator": "运营人员"}
#: export definitions: what is exported and which filters each kind takes
EXPORT_KINDS = {
    "subscribers": frozenset({"status", "msisdn_prefix"}),
    "subscriptions": frozenset({"status", "service_code", "sp_code"}),
}
ID_TYPES = frozenset({"id_card", "passport", "other"})


def identity(name: str) -> str:
    """The identity of a staff username or an API key's label (see the module's docstring)."""
    return "staff:" + unicodedata.normalize("NFKC", name).strip().lower()


def same_person(a: str, a_phone: str | None, b: str, b_phone: str | None) -> bool:
    """Whether two identities are one person: the same identity, or the same phone."""
    return a == b or (bool(a_phone) and a_phone == b_phone)


def break_glass_roles(setting: str) -> frozenset[str]:
    """``MINGBAI_VAULT_BREAK_GLASS_ROLES``: comma-separated requester roles (security never)."""
    roles = frozenset(r.strip() for r in setting.split(",") if r.strip())
    return roles & REQUESTER_ROLES


def approvals_needed(operation: Operation, export_approvers: int) -> int:
    """Every operation needs one approver; a bulk export as many as configured (1 or 2)."""
    return max(1, export_approvers) if operation is Operation.EXPORT else 1


# -- input -----------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_reason(value: str | None, *, name: str = "reason") -> str:
    """A reason fit to store, show and send by SMS. Text that cannot be stored (NUL, half a
    character) is refused, as at every edge; other control and direction characters, which could
    disguise what a screen or an SMS shows, are dropped; whitespace runs become one space."""
    if value is None:
        raise InvalidInput(f"a {name} is required", code="bad_reason")
    if "\x00" in value or _SURROGATE.search(value):
        raise InvalidInput(f"the {name} must not contain NUL or half a character", code="bad_reason")
    text = " ".join(_CONTROL.sub("", unicodedata.normalize("NFC", value)).split())
    if len(text) < REASON_MIN:
        raise InvalidInput(f"the {name} must say why, in at least {REASON_MIN} characters", code="bad_reason")
    if len(text) > REASON_MAX:
        raise InvalidInput(f"the {name} must be at most {REASON_MAX} characters", code="bad_reason")
    return text


def parse_operation(value: str) -> Operation:
    try:
        return Operation(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"operation must be one of {', '.join(o.value for o in Operation)}", code="bad_operation"
        ) from None


def date_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """A CDR or location range: Shanghai days, both included, not in the future, at most
    :data:`MAX_RANGE_DAYS` long."""
    if start is None or end is None:
        raise InvalidInput("a date range is required (from and to)", code="bad_range")
    if end < start:
        raise InvalidInput("the range ends before it starts", code="bad_range")
    if end > today:
        raise InvalidInput("the range must not end in the future", code="bad_range")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(f"a range covers at most {MAX_RANGE_DAYS} days", code="bad_range")
    return start, end


def export_definition(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """One export definition: ``{"of": "subscribers"|"subscriptions", filters…}``, every value a
    short string; unknown filters are refused (an approver approves exactly what is written)."""
    if not raw:
        raise InvalidInput("an export names what it exports: of=subscribers|subscriptions", code="bad_export")
    of = str(raw.get("of", ""))
    if of not in EXPORT_KINDS:
        raise InvalidInput("an export is of subscribers or subscriptions", code="bad_export")
    out = {"of": of}
    for key, value in raw.items():
        if key == "of":
            continue
        if key not in EXPORT_KINDS[of]:
            raise InvalidInput(f"an export of {of} has no filter {key!r}", code="bad_export")
        text = str(value)
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,32}", text):
            raise InvalidInput(f"filter {key} must be 1–32 letters, digits, - or _", code="bad_export")
        out[str(key)] = text
    return out


def new_identity(name: str | None, id_type: str | None, id_number: str | None) -> dict[str, str]:
    """The identity data an ``identity_change`` would write."""
    name_ = unicodedata.normalize("NFC", name or "").strip()
    if not 1 <= len(name_) <= 64 or "\x00" in name_ or _SURROGATE.search(name_) or _CONTROL.search(name_):
        raise InvalidInput("the name must be 1–64 printable characters", code="bad_identity")
    if id_type not in ID_TYPES:
        raise InvalidInput(f"id_type must be one of {', '.join(sorted(ID_TYPES))}", code="bad_identity")
    number = (id_number or "").strip().upper()
    if not re.fullmatch(r"[0-9A-Z]{5,32}", number):
        raise InvalidInput("the ID number must be 5–32 letters or digits", code="bad_identity")
    if id_type == "id_card" and not re.fullmatch(r"\d{17}[\dX]", number):
        raise InvalidInput("a resident ID card number has 18 characters", code="bad_identity")
    return {"name": name_, "id_type": id_type, "id_number": number}


def canonical(params: Mapping[str, Any]) -> str:
    """What a request is bound to, as stored: sorted, compact JSON."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# -- the state machine -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFacts:
    """What the rules need to know of a request."""

    status: str
    requester: str
    requester_phone: str | None
    break_glass: bool
    expires_at: datetime
    usable_until: datetime | None


def current_status(req: RequestFacts, now: datetime) -> Status:
    """The status as of ``now``: a pending request past its wait, or an approval past its window,
    is expired even before the expiry pass writes it so."""
    status = Status(req.status)
    if status is Status.PENDING and now >= req.expires_at:
        return Status.EXPIRED
    if status is Status.APPROVED and req.usable_until is not None and now >= req.usable_until:
        return Status.EXPIRED
    return status


def check_decider(req: RequestFacts, *, who: str, role: str, phone: str | None, now: datetime) -> None:
    """Raise unless ``who`` may approve or deny this request now."""
    if role not in APPROVER_ROLES:
        raise Forbidden("only the security role approves vault requests", code="not_approver")
    if same_person(req.requester, req.requester_phone, who, phone):
        raise Forbidden("nobody approves their own request, nor does anyone acting as them", code="self_approval")
    status = current_status(req, now)
    if status is Status.EXPIRED:
        raise Conflict("the request has expired", code="expired")
    if status is not Status.PENDING:
        raise Conflict(f"the request is {status.value}, not waiting for a decision", code="not_pending")


def check_use(req: RequestFacts, *, who: str, now: datetime) -> None:
    """Raise unless ``who`` may use this approval now (only the requester, once, in its window)."""
    if who != req.requester:
        raise Forbidden("only the requester may use an approval", code="not_requester")
    status = current_status(req, now)
    if status is Status.USED:
        raise Conflict("this approval has been used; ask again", code="used")
    if status is Status.EXPIRED:
        raise Conflict("this approval has expired; ask again", code="expired")
    if status is Status.DENIED:
        raise Conflict("this request was denied", code="denied")
    if status is Status.PENDING:
        raise Conflict("this request has not been approved yet", code="not_approved")


def check_reviewer(req: RequestFacts, *, review: str | None, who: str, role: str, phone: str | None) -> None:
    if role not in APPROVER_ROLES:
        raise Forbidden("only the security role reviews break-glass accesses", code="not_approver")
    if not req.break_glass:
        raise Conflict("only break-glass accesses are reviewed", code="not_break_glass")
    if same_person(req.requester, req.requester_phone, who, phone):
        raise Forbidden("nobody reviews their own break-glass access", code="self_approval")
    if review != Review.PENDING:
        raise Conflict("this access has been reviewed", code="reviewed")


def usable_until(approved_at: datetime, minutes: int) -> datetime:
    return approved_at + timedelta(minutes=minutes)


# -- SMS replies -----------------------------------------------------------------------------------

_REPLY = re.compile(r"^\s*(?:[YyＹｙ]|同意|批准)?\s*(\d{6})\s*$")


def parse_reply(text: str) -> str | None:
    """An approver's reply: the six-digit code, optionally after Y/同意 ("Y123456")."""
    m = _REPLY.match(unicodedata.normalize("NFKC", text))
    return m.group(1) if m else None


# -- the guarded stores' records ------------------------------------------------------------------

CDR_KINDS = frozenset({"voice", "sms", "data"})
DIRECTIONS = frozenset({"out", "in"})
CDR_FIELDS = ("msisdn", "started_at", "kind", "direction", "other_party", "duration_s", "volume_kb", "cell_id")
LOCATION_FIELDS = ("msisdn", "at", "cell_id", "area", "lat_e6", "lon_e6")
_CELL = re.compile(r"[0-9A-Za-z\-]{1,32}")


def _instant(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone", code="bad_record")
        return value
    try:
        return parse_instant(str(value))
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", code="bad_record") from None


def _count(value: Any, name: str, limit: int) -> int:
    try:
        n = int(value or 0)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a whole number", code="bad_record") from None
    if not 0 <= n <= limit:
        raise InvalidInput(f"{name} must be from 0 to {limit}", code="bad_record")
    return n


def _number(value: Any) -> str:
    return normalize_msisdn(str(value or ""))


def _cell(value: Any) -> str:
    text = str(value or "")
    if not _CELL.fullmatch(text):
        raise InvalidInput("cell_id must be 1–32 letters, digits or -", code="bad_record")
    return text


def cdr_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One CDR as stored, from a mapping with :data:`CDR_FIELDS` (a CSV line, a feed's record)."""
    kind = str(raw.get("kind", ""))
    direction = str(raw.get("direction", ""))
    if kind not in CDR_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(sorted(CDR_KINDS))}", code="bad_record")
    if direction not in DIRECTIONS:
        raise InvalidInput("direction must be out or in", code="bad_record")
    other = str(raw.get("other_party") or "")
    if not re.fullmatch(r"\+?\d{0,20}", other):
        raise InvalidInput("other_party must be digits", code="bad_record")
    return {
        "msisdn": _number(raw.get("msisdn")),
        "started_at": _instant(raw.get("started_at"), "started_at"),
        "kind": kind,
        "direction": direction,
        "other_party": other[:20],
        "duration_s": _count(raw.get("duration_s"), "duration_s", 86_400),
        "volume_kb": _count(raw.get("volume_kb"), "volume_kb", 100_000_000),
        "cell_id": _cell(raw.get("cell_id")),
    }


def location_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One location record as stored, from a mapping with :data:`LOCATION_FIELDS`."""
    area = " ".join(_CONTROL.sub("", str(raw.get("area") or "")).split())
    if "\x00" in area or _SURROGATE.search(area) or len(area) > 64:
        raise InvalidInput("area must be at most 64 printable characters", code="bad_record")
    try:
        lat, lon = int(raw.get("lat_e6") or 0), int(raw.get("lon_e6") or 0)
    except (TypeError, ValueError):
        raise InvalidInput("lat_e6 and lon_e6 are micro-degrees, whole numbers", code="bad_record") from None
    if not (-90_000_000 <= lat <= 90_000_000 and -180_000_000 <= lon <= 180_000_000):
        raise InvalidInput("lat_e6/lon_e6 out of range", code="bad_record")
    return {
        "msisdn": _number(raw.get("msisdn")),
        "at": _instant(raw.get("at"), "at"),
        "cell_id": _cell(raw.get("cell_id")),
        "area": area,
        "lat_e6": lat,
        "lon_e6": lon,
    }
