"""Sign-in use cases: staff passwords, subscriber SMS codes, sessions, the sign-in log.

Functions take a :class:`~mingbai.db.Ctx` and never commit. A refused sign-in is a result,
not an exception, so the attempt is written down (and counts towards the lockout) even
though nothing else changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update

from mingbai.accounts import rules
from mingbai.accounts.models import LoginCode, SignInAttempt, StaffUser, SubscriberProfile, WebSession
from mingbai.auth.service import Principal, Role
from mingbai.catalog.models import Subscriber
from mingbai.catalog.service import get_sp
from mingbai.db import Ctx, upsert
from mingbai.errors import InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import enqueue
from mingbai.msisdn import is_msisdn, mask_msisdn, normalize_msisdn
from mingbai.subscriptions.keys import stored_secret
from mingbai.subscriptions.rules import code_mac, new_code

log = logging.getLogger(__name__)

#: roles a staff account may hold (subscribers sign in by SMS; the SMS centre only has API keys)
STAFF_ROLES = frozenset(Role) - {Role.SUBSCRIBER, Role.SMSC, Role.REVIEWER}

#: argon2id with the library's defaults (RFC 9106 low-memory profile); replaceable in tests
hasher = PasswordHasher()
#: verified against when the username is unknown, so the reply takes as long either way
_DUMMY_HASH: str | None = None


def hash_password(password: str) -> str:
    return hasher.hash(password)


def _dummy_verify(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hasher.hash(secrets.token_hex(16))
    with contextlib.suppress(VerificationError):
        hasher.verify(_DUMMY_HASH, password)


# -- staff accounts ---------------------------------------------------------------------------


def create_user(
    ctx: Ctx, *, username: str, role: str, display_name: str, password: str, sp_code: str | None = None
) -> StaffUser:
    username = username.strip().lower()
    if reason := rules.check_username(username):
        raise InvalidInput(reason, code="bad_username")
    try:
        role_ = Role(role)
    except ValueError:
        role_ = None
    if role_ not in STAFF_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(sorted(r.value for r in STAFF_ROLES))}", code="bad_role")
    if role_ is Role.SP:
        if not sp_code:
            raise InvalidInput("an SP user names its SP (--sp)", code="bad_sp")
        sp_code = get_sp(ctx, sp_code).code
    elif sp_code:
        raise InvalidInput("only SP users are bound to an SP", code="bad_sp")
    display_name = display_name.strip()
    if not 1 <= len(display_name) <= 64:
        raise InvalidInput("display name must be 1–64 characters", code="bad_name")
    if reason := rules.check_password(password, username):
        raise InvalidInput(reason, code="weak_password")
    if ctx.session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise InvalidInput(f"username {username!r} is taken", code="username_taken")
    now = ctx.now()
    user = StaffUser(
        id=new_id(),
        username=username,
        display_name=display_name,
        role=role_.value,
        sp_code=sp_code,
        password_hash=hash_password(password),
        status="active",
        created_at=now,
        updated_at=now,
        last_sign_in_at=None,
    )
    ctx.session.add(user)
    ctx.session.flush()
    return user


def get_user(ctx: Ctx, username: str) -> StaffUser:
    user = ctx.session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"no user {username!r}", code="unknown_user")
    return user


def list_users(ctx: Ctx) -> list[StaffUser]:
    return list(ctx.session.scalars(select(StaffUser).order_by(StaffUser.username)))


def set_password(ctx: Ctx, *, username: str, password: str) -> None:
    user = get_user(ctx, username)
    if reason := rules.check_password(password, user.username):
        raise InvalidInput(reason, code="weak_password")
    user.password_hash = hash_password(password)
    user.updated_at = ctx.now()
    _end_user_sessions(ctx, user.id)


def set_user_status(ctx: Ctx, *, username: str, status: str) -> None:
    if status not in ("active", "disabled"):
        raise InvalidInput("status must be active or disabled")
    user = get_user(ctx, username)
    user.status = status
    user.updated_at = ctx.now()
    if status == "disabled":
        _end_user_sessions(ctx, user.id)


def _end_user_sessions(ctx: Ctx, user_id: int) -> None:
    ctx.session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=ctx.now())
    )


# -- sign-in log and lockout ------------------------------------------------------------------


def _failures(ctx: Ctx, subject: str, address: str) -> tuple[int, int]:
    since = ctx.now() - rules.LOCKOUT_WINDOW
    base = (
        select(func.count())
        .select_from(SignInAttempt)
        .where(SignInAttempt.at >= since, SignInAttempt.success.is_(False), SignInAttempt.method != "sms_request")
    )
    by_subject = ctx.session.scalar(base.where(SignInAttempt.subject == subject)) or 0
    by_address = ctx.session.scalar(base.where(SignInAttempt.address == address)) or 0
    return int(by_subject), int(by_address)


def _record(ctx: Ctx, *, method: str, subject: str, address: str, success: bool, reason: str) -> None:
    ctx.session.execute(
        insert(SignInAttempt),
        {
            "id": new_id(),
            "at": ctx.now(),
            "method": method,
            "subject": subject[:64],
            "address": address[:64],
            "success": success,
            "reason": reason,
        },
    )
    if success:
        log.info("sign-in ok: method=%s subject=%s address=%s", method, rules.mask_subject(subject), address)
    else:
        log.warning(
            "sign-in refused: method=%s subject=%s address=%s reason=%s",
            method,
            rules.mask_subject(subject),
            address,
            reason,
        )


@dataclass(frozen=True)
class AttemptView:
    at: datetime
    method: str
    subject_masked: str
    address: str
    success: bool
    reason: str


def sign_in_log(ctx: Ctx, *, limit: int = 200, failures_only: bool = False) -> list[AttemptView]:
    stmt = select(SignInAttempt).order_by(SignInAttempt.at.desc(), SignInAttempt.id.desc()).limit(limit)
    if failures_only:
        stmt = stmt.where(SignInAttempt.success.is_(False))
    return [
        AttemptView(a.at, a.method, rules.mask_subject(a.subject), a.address, a.success, a.reason)
        for a in ctx.session.scalars(stmt)
    ]


# -- sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInResult:
    """``token`` goes into the session cookie; ``reason`` says why not (bad_credentials, locked, …)."""

    ok: bool
    reason: str
    token: str | None = None
    principal: Principal | None = None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _start_session(ctx: Ctx, principal: Principal, user_id: int | None) -> str:
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    ctx.session.execute(
        insert(WebSession),
        {
            "id": _token_hash(token),
            "role": principal.role.value,
            "user_id": user_id,
            "msisdn": principal.msisdn,
            "sp_code": principal.sp_code,
            "label": principal.label,
            "created_at": now,
            "last_seen_at": now,
            "ended_at": None,
        },
    )
    return token


def start_staff_session(ctx: Ctx, user: StaffUser) -> str:
    """A session for a user already verified (sign-in, or a test standing in for it)."""
    return _start_session(ctx, Principal(user.id, Role(user.role), user.username, user.sp_code), user.id)


def start_subscriber_session(ctx: Ctx, msisdn: str) -> str:
    msisdn = normalize_msisdn(msisdn)
    return _start_session(ctx, Principal(0, Role.SUBSCRIBER, mask_msisdn(msisdn), msisdn=msisdn), None)


def sign_in_password(ctx: Ctx, *, username: str, password: str, address: str) -> SignInResult:
    subject = username.strip().lower()[:64]
    if rules.locked_out(*_failures(ctx, subject, address)):
        _record(ctx, method="password", subject=subject, address=address, success=False, reason="locked")
        return SignInResult(False, "locked")
    user = ctx.session.scalar(select(StaffUser).where(StaffUser.username == subject))
    if user is None or len(password) > rules.MAX_PASSWORD:
        _dummy_verify(password[: rules.MAX_PASSWORD])
        _record(ctx, method="password", subject=subject, address=address, success=False, reason="bad_credentials")
        return SignInResult(False, "bad_credentials")
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        _record(ctx, method="password", subject=subject, address=address, success=False, reason="bad_credentials")
        return SignInResult(False, "bad_credentials")
    if user.status != "active":
        _record(ctx, method="password", subject=subject, address=address, success=False, reason="disabled")
        return SignInResult(False, "disabled")
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = ctx.now()
    _record(ctx, method="password", subject=subject, address=address, success=True, reason="ok")
    token = start_staff_session(ctx, user)
    return SignInResult(True, "ok", token, Principal(user.id, Role(user.role), user.username, user.sp_code))


def request_login_code(ctx: Ctx, *, msisdn: str, address: str) -> str:
    """Send a one-time code by SMS to an active subscriber. Returns what happened (sent,
    unknown, throttled) for the log; the page says the same thing in every case, so it
    cannot be used to find out which numbers are subscribers."""
    if not is_msisdn(msisdn):
        return "bad_msisdn"
    msisdn = normalize_msisdn(msisdn)
    now = ctx.now()
    known = ctx.session.scalar(select(Subscriber.status).where(Subscriber.msisdn == msisdn))
    if known != "active":
        _record(ctx, method="sms_request", subject=msisdn, address=address, success=False, reason="unknown")
        return "unknown"
    recent = list(
        ctx.session.scalars(
            select(LoginCode.created_at).where(
                LoginCode.msisdn == msisdn, LoginCode.created_at > now - timedelta(hours=1)
            )
        )
    )
    if not rules.may_send_login_code(recent, now):
        _record(ctx, method="sms_request", subject=msisdn, address=address, success=False, reason="throttled")
        return "throttled"
    code_id = new_id()
    code = new_code(6)
    # an earlier code stops working as soon as a new one is sent
    ctx.session.execute(
        update(LoginCode).where(LoginCode.msisdn == msisdn, LoginCode.used_at.is_(None)).values(used_at=now)
    )
    ctx.session.execute(
        insert(LoginCode),
        {
            "msisdn": msisdn,
            "id": code_id,
            "code_mac": code_mac(login_key(ctx), msisdn, code_id, code),
            "created_at": now,
            "expires_at": now + rules.LOGIN_CODE_TTL,
            "attempts": 0,
            "used_at": None,
        },
    )
    minutes = int(rules.LOGIN_CODE_TTL.total_seconds() // 60)
    enqueue(
        ctx,
        msisdn=msisdn,
        kind=MessageKind.LOGIN_CODE,
        dedupe_key=f"login:{code_id}",
        text=f"您正在登录明白自助服务,登录验证码{code},{minutes}分钟内有效。如非本人操作请忽略,切勿告诉他人。中国移动",
    )
    _record(ctx, method="sms_request", subject=msisdn, address=address, success=True, reason="sent")
    return "sent"


def sign_in_code(ctx: Ctx, *, msisdn: str, code: str, address: str) -> SignInResult:
    if not is_msisdn(msisdn):
        return SignInResult(False, "bad_credentials")
    msisdn = normalize_msisdn(msisdn)
    if rules.locked_out(*_failures(ctx, msisdn, address)):
        _record(ctx, method="sms_code", subject=msisdn, address=address, success=False, reason="locked")
        return SignInResult(False, "locked")
    now = ctx.now()
    row = ctx.session.scalars(
        select(LoginCode)
        .where(LoginCode.msisdn == msisdn, LoginCode.used_at.is_(None), LoginCode.expires_at > now)
        .order_by(LoginCode.id.desc())
    ).first()
    code = code.strip()
    if row is None or row.attempts >= rules.LOGIN_CODE_ATTEMPTS:
        _record(ctx, method="sms_code", subject=msisdn, address=address, success=False, reason="no_code")
        return SignInResult(False, "no_code")
    if not (code.isdigit() and secrets.compare_digest(row.code_mac, code_mac(login_key(ctx), msisdn, row.id, code))):
        row.attempts += 1
        if row.attempts >= rules.LOGIN_CODE_ATTEMPTS:
            row.used_at = now
        _record(ctx, method="sms_code", subject=msisdn, address=address, success=False, reason="bad_credentials")
        return SignInResult(False, "bad_credentials")
    row.used_at = now
    _record(ctx, method="sms_code", subject=msisdn, address=address, success=True, reason="ok")
    token = start_subscriber_session(ctx, msisdn)
    return SignInResult(True, "ok", token, Principal(0, Role.SUBSCRIBER, mask_msisdn(msisdn), msisdn=msisdn))


@dataclass(frozen=True)
class SessionInfo:
    principal: Principal
    display_name: str
    #: identifies the session for CSRF tokens without revealing the cookie
    binding: str


def load_session(ctx: Ctx, token: str) -> SessionInfo | None:
    """The session behind a cookie, or None when unknown, ended, expired or its user disabled.

    Role and SP binding are read from the user's row on every request, so a change (or a
    disabled account) takes effect at once."""
    if not token or len(token) > 128:
        return None
    sid = _token_hash(token)
    row = ctx.session.get(WebSession, sid)
    if row is None or row.ended_at is not None:
        return None
    now = ctx.now()
    role = Role(row.role)
    policy = rules.SUBSCRIBER_SESSION if role is Role.SUBSCRIBER else rules.STAFF_SESSION
    if not rules.session_alive(row.created_at, row.last_seen_at, now, policy):
        row.ended_at = now
        return None
    display = row.label
    sp_code = row.sp_code
    if row.user_id is not None:
        user = ctx.session.get(StaffUser, row.user_id)
        if user is None or user.status != "active":
            row.ended_at = now
            return None
        role, sp_code, display = Role(user.role), user.sp_code, user.display_name
    if now - row.last_seen_at >= rules.TOUCH_EVERY:
        row.last_seen_at = now
    principal = Principal(row.user_id or 0, role, row.label, sp_code, row.msisdn)
    return SessionInfo(principal, display, sid)


def end_session(ctx: Ctx, token: str) -> None:
    ctx.session.execute(
        update(WebSession)
        .where(WebSession.id == _token_hash(token), WebSession.ended_at.is_(None))
        .values(ended_at=ctx.now())
    )


def purge_stale(ctx: Ctx) -> int:
    """Delete sessions that ended or expired more than a day ago and spent sign-in codes
    (the sign-in log stays: it is the security record). Idempotent; run by ``Platform.tick``."""
    now = ctx.now()
    keep = timedelta(days=1)
    oldest_alive = now - max(rules.STAFF_SESSION.absolute, rules.SUBSCRIBER_SESSION.absolute) - keep
    sessions = ctx.session.execute(
        delete(WebSession).where(
            (WebSession.ended_at < now - keep)
            | (WebSession.last_seen_at < now - rules.STAFF_SESSION.idle - keep)
            | (WebSession.created_at < oldest_alive)
        )
    )
    codes = ctx.session.execute(delete(LoginCode).where(LoginCode.created_at < now - keep))
    return int(sessions.rowcount or 0) + int(codes.rowcount or 0)  # type: ignore[attr-defined]


# -- keys ---------------------------------------------------------------------------------------


def login_key(ctx: Ctx) -> bytes:
    return stored_secret(ctx, "login_mac")


def web_secret(ctx: Ctx) -> bytes:
    """Signs CSRF tokens: ``$MINGBAI_WEB_SECRET`` when set, else a key kept in the database."""
    env = os.environ.get("MINGBAI_WEB_SECRET", "")
    return env.encode() if env else stored_secret(ctx, "web_csrf")


# -- real-name profiles ------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskedProfile:
    name: str
    id_type: str
    id_number: str


def masked_profile(ctx: Ctx, msisdn: str) -> MaskedProfile | None:
    """The subscriber's registered name and ID, masked. Seeing them unmasked is a vault
    operation (R13) that needs a second person's approval; no console screen does it."""
    row = ctx.session.get(SubscriberProfile, normalize_msisdn(msisdn))
    if row is None:
        return None
    return MaskedProfile(rules.mask_name(row.name), row.id_type, rules.mask_id_number(row.id_number))


def save_profile(ctx: Ctx, *, msisdn: str, name: str, id_type: str, id_number: str) -> None:
    upsert(
        ctx.session,
        SubscriberProfile.__table__,
        [
            {
                "msisdn": normalize_msisdn(msisdn),
                "name": name,
                "id_type": id_type,
                "id_number": id_number,
                "updated_at": ctx.now(),
            }
        ],
        ["msisdn"],
    )
