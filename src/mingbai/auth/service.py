"""API keys: create (shown once), authenticate, revoke."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import insert, select, update

from mingbai.audit import service as audit
from mingbai.auth.models import ApiKey
from mingbai.catalog.service import get_sp
from mingbai.db import Ctx, table_of
from mingbai.errors import InvalidInput, NotFound
from mingbai.ids import new_id


class Role(StrEnum):
    SP = "sp"  # an SP's staff: bound to one SP
    AGENT = "agent"  # 10086 hotline
    HALL = "hall"  # business-hall clerk
    OPERATOR = "operator"  # operator admin: catalog and platform administration
    SMSC = "smsc"  # the SMS centre's interception / MO hook
    SUPERVISOR = "supervisor"  # leads agents and clerks; sees the dashboard
    SECURITY = "security"  # security approver (金库 second person); watches sign-ins
    AUDITOR = "auditor"  # reads, never changes
    SUBSCRIBER = "subscriber"  # a subscriber on the self-service portal: bound to one MSISDN
    REVIEWER = "reviewer"  # 7×24 spam review: grey-zone messages and 10086999 reports


STAFF_CHANNEL = {Role.AGENT: "hotline", Role.HALL: "hall", Role.OPERATOR: "hotline", Role.SUPERVISOR: "hotline"}

#: roles an API key may carry; subscribers sign in on the portal with an SMS code instead
KEY_ROLES = frozenset({Role.SP, Role.AGENT, Role.HALL, Role.OPERATOR, Role.SMSC, Role.REVIEWER})


@dataclass(frozen=True)
class Principal:
    key_id: int
    role: Role
    label: str
    sp_code: str | None = None
    #: set for role "subscriber": the one MSISDN this principal acts for
    msisdn: str | None = None

    @property
    def actor(self) -> str:
        if self.role is Role.SP:
            return f"sp:{self.sp_code}"
        if self.role is Role.SUBSCRIBER:
            return f"subscriber:{self.msisdn}"
        return f"{self.role.value}:{self.label}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    ctx: Ctx, *, role: str, label: str, sp_code: str | None = None, key: str | None = None, actor: str = "system"
) -> str:
    """Create a key and return it; only its hash is kept. Staff creating one is audited."""
    try:
        role_ = Role(role)
    except ValueError:
        role_ = None
    if role_ not in KEY_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(sorted(r.value for r in KEY_ROLES))}") from None
    if role_ is Role.SP:
        if not sp_code:
            raise InvalidInput("an SP key names its SP")
        get_sp(ctx, sp_code)
    elif sp_code:
        raise InvalidInput("only SP keys are bound to an SP")
    if not 1 <= len(label) <= 64:
        raise InvalidInput("label must be 1–64 characters")
    key = key or "mb_" + secrets.token_urlsafe(32)
    key_id = new_id()
    audit.record_staff(
        ctx,
        actor=actor,
        action="apikey.create",
        subject=f"apikey:{key_id}",
        detail={"role": role_.value, "label": label, "sp": sp_code or ""},
    )
    ctx.session.execute(
        insert(table_of(ApiKey)),
        {
            "id": key_id,
            "key_hash": _hash(key),
            "prefix": key[:10],
            "role": role_.value,
            "sp_code": sp_code,
            "label": label,
            "created_at": ctx.now(),
            "revoked_at": None,
        },
    )
    return key


class KeyCache:
    """Keys that authenticated recently, so an API request does not open a transaction only to
    learn who is calling (that lookup cost more than a spam check). A revocation through this
    process clears the cache at once; other processes stop accepting a revoked key within
    ``ttl`` seconds. Unknown keys are never cached, so guessing cannot grow it."""

    def __init__(self, ttl: float = 5.0, size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def lookup(self, key: str, load: Callable[[], Principal | None]) -> Principal | None:
        digest = _hash(key)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = load()
        with self._lock:
            if principal is None:
                self._entries.pop(digest, None)
            else:
                if len(self._entries) >= self._size:
                    self._entries.clear()
                self._entries[digest] = (now + self._ttl, principal)
        return principal

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def authenticate(ctx: Ctx, key: str) -> Principal | None:
    row = ctx.session.scalars(select(ApiKey).where(ApiKey.key_hash == _hash(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.id, Role(row.role), row.label, row.sp_code)


def revoke_key(ctx: Ctx, key_id: int, *, sp_code: str | None = None, actor: str = "system") -> None:
    """Revoke a key; with ``sp_code`` only that SP's keys (another SP's key is "not found")."""
    conds = [ApiKey.id == key_id, ApiKey.revoked_at.is_(None)]
    if sp_code is not None:
        conds.append(ApiKey.sp_code == sp_code)
    result = ctx.session.execute(update(ApiKey).where(*conds).values(revoked_at=ctx.now()))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no active key {key_id}")
    audit.record_staff(ctx, actor=actor, action="apikey.revoke", subject=f"apikey:{key_id}")


def list_keys(ctx: Ctx, *, sp_code: str | None = None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if sp_code is not None:
        stmt = stmt.where(ApiKey.sp_code == sp_code)
    return list(ctx.session.scalars(stmt))
