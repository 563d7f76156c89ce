"""The audit log's rules, with no database and no clock: how an entry is hashed into the chain,
how a chain is verified, how a subject number becomes a searchable keyed MAC, and how checkpoints
are signed.

The chain: ``hash(n) = SHA-256(hash(n-1) ‖ canonical(n))`` with ``hash(0)`` = 32 zero bytes (as
hex). ``canonical`` joins the entry's fields, ``seq`` first, with the unit separator; no field may
hold a control character, so the join cannot be read two ways. Because ``seq`` is hashed and must
run 1, 2, 3… without a gap, a changed byte, a removed, inserted or reordered entry all break the
chain at the first entry that differs; a removed *tail* is caught by a signed checkpoint (the
database's own, or one an auditor kept) that names a later ``seq``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS = "0" * 64
SEP = "\x1f"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
#: characters no hashed field may carry (they would make the canonical form ambiguous)
_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}

_CONTROL_RE = re.compile("[\x00-\x1f\x7f]")

#: outcomes an entry records
OUTCOMES = ("ok", "denied", "failed")


class AuditFieldError(ValueError):
    """A field cannot go into the log as given (a control character, a lone surrogate)."""


def epoch_us(at: datetime) -> int:
    """Microseconds since 1970 UTC: the instant as it is hashed (no text formatting involved)."""
    return (at - _EPOCH) // _US


@functools.lru_cache(maxsize=4096)
def clean(value: str | None, name: str, limit: int) -> str:
    """A field fit for the log: no control character (they separate fields), no lone surrogate
    (they do not encode), at most ``limit`` characters (longer text is cut, marked with …)."""
    if value is None:
        return ""
    if _CONTROL_RE.search(value):
        value = _CONTROL_RE.sub("?", value)
    try:
        value.encode()
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode()
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def detail_json(detail: Mapping[str, Any] | None) -> str:
    """The detail as stored and hashed: compact, sorted keys, ASCII (control characters escaped)."""
    if not detail:
        return ""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


class Entry(NamedTuple):
    """One entry's hashed fields, as stored (a named tuple: an append makes one per entry, and a
    tuple is made several times faster than a frozen dataclass)."""

    seq: int
    at_us: int
    actor: str
    role: str
    action: str
    subject_mac: str
    subject: str
    address: str
    outcome: str
    detail: str

    def canonical(self) -> bytes:
        return str(self.seq).encode() + self.tail()

    def tail(self) -> bytes:
        """The canonical form after ``seq`` (separator included): what can be prepared before
        the entry's place in the chain is known."""
        return (
            SEP
            + SEP.join(
                (
                    str(self.at_us),
                    self.actor,
                    self.role,
                    self.action,
                    self.subject_mac,
                    self.subject,
                    self.address,
                    self.outcome,
                    self.detail,
                )
            )
        ).encode()


def chain_hash(prev: str, entry: Entry) -> str:
    return hashlib.sha256(prev.encode() + entry.canonical()).hexdigest()


def chain_hash_tail(prev: str, seq: int, tail: bytes) -> str:
    """:func:`chain_hash` of an entry given its ``seq`` and :meth:`Entry.tail`."""
    return hashlib.sha256(prev.encode() + str(seq).encode() + tail).hexdigest()


def subject_mac(key: bytes, msisdn: str) -> str:
    """The keyed MAC that stands for a subscriber's number in the log: an auditor who enters the
    number finds its entries; someone holding only the database learns no number."""
    return hmac.digest(key, msisdn.encode(), "sha256").hex()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    #: the ``seq`` of the first entry that is not what the chain says (None when ok)
    first_bad: int | None = None
    reason: str = ""
    head: str = GENESIS


def verify_rows(rows: Iterable[tuple[Any, ...]], *, start_seq: int = 1, start_hash: str = GENESIS) -> Verdict:
    """Walk ``rows`` — ``(seq, at_us, actor, role, action, subject_mac, subject, address,
    outcome, detail, hash)`` in ``seq`` order — and say whether each follows from the one before.

    The first bad entry is the first whose ``seq`` is not the next number (one removed, inserted
    or reordered) or whose stored hash is not the hash of its fields on top of the previous
    entry's (one changed)."""
    prev = start_hash
    expected = start_seq
    count = 0
    sha = hashlib.sha256
    for row in rows:
        seq = row[0]
        if seq != expected:
            what = "missing entries before it" if seq > expected else "out of order or repeated"
            return Verdict(
                False, count, expected if seq > expected else seq, f"seq {seq} where {expected} was due: {what}", prev
            )
        canonical = SEP.join((str(seq), str(row[1]), *row[2:10])).encode()  # every field is NOT NULL
        digest = sha(prev.encode() + canonical).hexdigest()
        if digest != row[10]:
            return Verdict(False, count, seq, f"entry {seq} does not hash to its stored hash: changed", prev)
        prev = digest
        expected += 1
        count += 1
    return Verdict(True, count, None, "", prev)


# -- checkpoints ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the chain had ``seq`` entries ending in ``hash`` at ``at``."""

    seq: int
    hash: str
    at: datetime
    public_key: str  # base64 of the raw Ed25519 public key
    signature: str  # base64

    def message(self) -> bytes:
        return f"mingbai-audit-checkpoint{SEP}{self.seq}{SEP}{self.hash}{SEP}{epoch_us(self.at)}".encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.astimezone(UTC).isoformat(),
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        try:
            at = datetime.fromisoformat(str(data["at"]))
            if at.tzinfo is None:
                raise ValueError("naive time")
            return cls(int(data["seq"]), str(data["hash"]), at, str(data["public_key"]), str(data["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditFieldError(f"not a checkpoint: {exc}") from exc

    def signature_ok(self, public_key: str | None = None) -> bool:
        """Whether the signature holds, under ``public_key`` (the one an auditor trusts) or the
        key the checkpoint names."""
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key or self.public_key))
            key.verify(base64.b64decode(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True


def signing_key(seed: bytes) -> Ed25519PrivateKey:
    """The checkpoint signing key, derived from a secret that is not in the database."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"mingbai audit checkpoint:" + seed).digest())


def public_key_text(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head: str, at: datetime) -> Checkpoint:
    unsigned = Checkpoint(seq, head, at, public_key_text(key), "")
    return Checkpoint(seq, head, at, unsigned.public_key, base64.b64encode(key.sign(unsigned.message())).decode())
