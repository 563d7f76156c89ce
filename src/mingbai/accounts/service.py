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
from sqlalchemy import case, delete, insert, literal, or_, select, update

from mingbai.accounts import rules
from mingbai.accounts.models import LoginCode, SignInAttempt, SignInGuard, StaffUser, SubscriberProfile, WebSession
from mingbai.audit import service as audit
from mingbai.auth.service import Principal, Role
from mingbai.catalog.models import Subscriber
from mingbai.catalog.service import get_sp
from mingbai.db import Ctx, insert_ignore, upsert
from mingbai.errors import InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import enqueue
from mingbai.msisdn import is_msisdn, mask_msisdn, normalize_msisdn
from mingbai.subscriptions.keys import stored_secret
from mingbai.subscriptions.rules import code_mac, new_code
from mingbai.text import unstorable

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
    ctx: Ctx,
    *,
    username: str,
    role: str,
    display_name: str,
    password: str,
    sp_code: str | None = None,
    actor: str = "system",
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
    audit.record_staff(
        ctx,
        actor=actor,
        action="user.create",
        subject=f"user:{username}",
        detail={"role": role_.value, "sp": sp_code or ""},
    )
    return user


def get_user(ctx: Ctx, username: str) -> StaffUser:
    user = ctx.session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"no user {username!r}", code="unknown_user")
    return user


def list_users(ctx: Ctx) -> list[StaffUser]:
    return list(ctx.session.scalars(select(StaffUser).order_by(StaffUser.username)))


def set_password(ctx: Ctx, *, username: str, password: str, actor: str = "system") -> None:
    user = get_user(ctx, username)
    if reason := rules.check_password(password, user.username):
        raise InvalidInput(reason, code="weak_password")
    user.password_hash = hash_password(password)
    user.updated_at = ctx.now()
    _end_user_sessions(ctx, user.id)
    audit.record_staff(ctx, actor=actor, action="user.password", subject=f"user:{user.username}")


def set_contact(
    ctx: Ctx, *, username: str, phone: str | None = None, unit: str | None = None, actor: str = "system"
) -> StaffUser:
    """A staff member's own phone (vault codes and alerts go there; "" clears it) and unit (what a
    subscriber is told about who saw their data). ``None`` leaves a field as it is. Audited: the
    phone a vault approval code goes to is a security setting."""
    user = get_user(ctx, username)
    if phone is not None:
        user.phone = normalize_msisdn(phone) if phone.strip() else None
    if unit is not None:
        unit = unit.strip()
        if len(unit) > 64 or any(not ch.isprintable() for ch in unit):
            raise InvalidInput("the unit must be at most 64 printable characters", code="bad_unit")
        user.unit = unit or None
    user.updated_at = ctx.now()
    audit.record_staff(
        ctx,
        actor=actor,
        action="user.contact",
        subject=f"user:{user.username}",
        detail={"phone": "set" if user.phone else "none", "unit": user.unit or ""},
    )
    return user


def set_user_status(ctx: Ctx, *, username: str, status: str, actor: str = "system") -> None:
    if status not in ("active", "disabled"):
        raise InvalidInput("status must be active or disabled")
    user = get_user(ctx, username)
    user.status = status
    user.updated_at = ctx.now()
    if status == "disabled":
        _end_user_sessions(ctx, user.id)
    audit.record_staff(
        ctx,
        actor=actor,
        action="user.disable" if status == "disabled" else "user.enable",
        subject=f"user:{user.username}",
    )


def _end_user_sessions(ctx: Ctx, user_id: int) -> None:
    ctx.session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=ctx.now())
    )


# -- sign-in log and lockout ------------------------------------------------------------------


#: the address-wide counter's subject (a username is never empty, nor is an MSISDN)
_ANY = ""
security_log = logging.getLogger("mingbai.security")


@dataclass(frozen=True)
class _Turn:
    """May this attempt be checked, and how many failures in a row it makes if it fails."""

    allowed: bool
    failures: int = 0


def _take_turn(ctx: Ctx, subject: str, address: str) -> _Turn:
    """Count an attempt *before* it is checked, and refuse it while its pair backs off.

    Each counter moves with one conditional UPDATE … RETURNING that also decides (refused
    while ``blocked_until`` is ahead): on PostgreSQL the row stays locked until this unit of
    work ends, so forty parallel guesses are checked at most the threshold's number of times,
    not as many as raced past a count read earlier; SQLite serialises writers anyway. A success
    gives the count back (:func:`_succeeded`)."""
    now = ctx.now()
    keys = [(_ANY, address)] + ([(subject, address)] if subject != _ANY else [])
    insert_ignore(
        ctx.session,
        SignInGuard.__table__,
        [{"subject": s, "address": a, "failures": 0, "last_failure_at": None, "blocked_until": None} for s, a in keys],
    )
    g = SignInGuard
    failures = 0
    for s, a in keys:
        counted = ctx.session.execute(
            update(g)
            .where(g.subject == s, g.address == a, or_(g.blocked_until.is_(None), g.blocked_until <= now))
            .values(
                failures=case(
                    (or_(g.last_failure_at.is_(None), g.last_failure_at < now - rules.LOCKOUT_WINDOW), 1),
                    else_=g.failures + 1,
                ),
                last_failure_at=now,
            )
            .returning(g.failures)
        ).scalar()
        if counted is None:
            return _Turn(False)
        threshold = rules.MAX_FAILURES_PER_ADDRESS if s == _ANY else rules.MAX_FAILURES_PER_SUBJECT
        if (delay := rules.backoff(counted, threshold)) is not None:
            ctx.session.execute(update(g).where(g.subject == s, g.address == a).values(blocked_until=now + delay))
        failures = counted
    return _Turn(True, failures)


def _succeeded(ctx: Ctx, subject: str, address: str) -> None:
    """The attempt was right: its pair starts afresh, the address gives back what it counted."""
    g = SignInGuard
    ctx.session.execute(
        update(g)
        .where(g.subject == subject, g.address == address)
        .values(failures=0, last_failure_at=None, blocked_until=None)
    )
    ctx.session.execute(
        update(g)
        .where(g.subject == _ANY, g.address == address)
        .values(failures=case((g.failures > 0, g.failures - 1), else_=0))
    )


def _refused(ctx: Ctx, *, method: str, subject: str, address: str, reason: str, turn: _Turn) -> SignInResult:
    """Write a refused attempt down; tell security when it starts a pair's back-off."""
    _record(ctx, method=method, subject=subject, address=address, success=False, reason=reason)
    if turn.failures == rules.MAX_FAILURES_PER_SUBJECT:
        # the security record: the sign-in log (ops console) and the security logger
        _record(ctx, method=method, subject=subject, address=address, success=False, reason="backoff")
        security_log.warning(
            "sign-in back-off started: method=%s subject=%s address=%s after %s failures",
            method,
            rules.mask_subject(subject),
            address,
            turn.failures,
        )
    return SignInResult(False, reason)


def _record(
    ctx: Ctx, *, method: str, subject: str, address: str, success: bool, reason: str, role: str | None = None
) -> None:
    if method == "password":
        # a staff sign-in, right or refused, is a staff action (issue 16); a refused one names the
        # username tried, never the password
        audit.record(
            ctx,
            actor=f"{role or 'unknown'}:{subject}",
            role=role or "unknown",
            action="staff.sign_in",
            subject=f"user:{subject}",
            outcome="ok" if success else "denied",
            address=address,
            detail=None if success else {"reason": reason},
        )
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
    attempts = list(ctx.session.scalars(stmt))
    # staff identities are not subscribers' personal data: security and auditors see who tried
    # to sign in as which member of staff. Subscribers' numbers stay masked, and so does a name
    # that is no account (often a password typed into the username field).
    names = {a.subject.strip().lower() for a in attempts if a.method == "password"}
    known = select(StaffUser.username).where(StaffUser.username.in_(names))
    staff = set(ctx.session.scalars(known)) if names else set()
    return [
        AttemptView(
            a.at,
            a.method,
            a.subject.strip().lower()
            if a.method == "password" and a.subject.strip().lower() in staff
            else rules.mask_subject(a.subject),
            a.address,
            a.success,
            a.reason,
        )
        for a in attempts
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
    turn = _take_turn(ctx, subject, address)
    if not turn.allowed:
        _record(ctx, method="password", subject=subject, address=address, success=False, reason="locked")
        return SignInResult(False, "locked")
    user = ctx.session.scalar(select(StaffUser).where(StaffUser.username == subject))
    if user is None or len(password) > rules.MAX_PASSWORD:
        _dummy_verify(password[: rules.MAX_PASSWORD])
        return _refused(ctx, method="password", subject=subject, address=address, reason="bad_credentials", turn=turn)
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return _refused(ctx, method="password", subject=subject, address=address, reason="bad_credentials", turn=turn)
    if user.status != "active":
        return _refused(ctx, method="password", subject=subject, address=address, reason="disabled", turn=turn)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = ctx.now()
    _succeeded(ctx, subject, address)
    _record(ctx, method="password", subject=subject, address=address, success=True, reason="ok", role=user.role)
    token = start_staff_session(ctx, user)
    return SignInResult(True, "ok", token, Principal(user.id, Role(user.role), user.username, user.sp_code))


def request_login_code(ctx: Ctx, *, msisdn: str, address: str) -> str:
    """Send a one-time code by SMS to an active subscriber. Returns what happened (sent,
    unknown, throttled) for the log; the page says the same thing in every case, so it
    cannot be used to find out which numbers are subscribers.

    Nor can its timing: every well-formed number costs the same statements. A code is drawn and
    MACed, earlier codes are retired and a ``login_code`` row is written whatever the outcome;
    for a number that gets no SMS the retiring matches nothing and the row is dead at birth
    (it expires when written), so it can never sign anyone in and counts for no throttle.
    Handing the SMS to the gateway happens after the answer (the page's background task).
    """
    if not is_msisdn(msisdn):
        return "bad_msisdn"
    msisdn = normalize_msisdn(msisdn)
    now = ctx.now()
    known = ctx.session.scalar(select(Subscriber.status).where(Subscriber.msisdn == msisdn))
    recent = list(
        ctx.session.scalars(
            select(LoginCode.created_at).where(
                LoginCode.msisdn == msisdn,
                LoginCode.created_at > now - timedelta(hours=1),
                LoginCode.expires_at > LoginCode.created_at,  # not the dead rows below
            )
        )
    )
    if known != "active":
        outcome = "unknown"
    elif not rules.may_send_login_code(recent, now):
        outcome = "throttled"
    else:
        outcome = "sent"
    live = outcome == "sent"
    code_id = new_id()
    code = new_code(6)
    mac = code_mac(login_key(ctx), msisdn, code_id, code)
    # an earlier code stops working as soon as a new one is sent
    ctx.session.execute(
        update(LoginCode)
        .where(LoginCode.msisdn == msisdn, LoginCode.used_at.is_(None), literal(live))
        .values(used_at=now)
    )
    ctx.session.execute(
        insert(LoginCode),
        {
            "msisdn": msisdn,
            "id": code_id,
            "code_mac": mac,
            "created_at": now,
            "expires_at": now + rules.LOGIN_CODE_TTL if live else now,
            "attempts": 0,
            "used_at": None,
        },
    )
    if live:
        minutes = int(rules.LOGIN_CODE_TTL.total_seconds() // 60)
        enqueue(
            ctx,
            msisdn=msisdn,
            kind=MessageKind.LOGIN_CODE,
            dedupe_key=f"login:{code_id}",
            text=f"您正在登录明白自助服务,登录验证码{code},{minutes}分钟内有效。如非本人操作请忽略,切勿告诉他人。中国移动",
        )
    _record(ctx, method="sms_request", subject=msisdn, address=address, success=live, reason=outcome)
    return outcome


def sign_in_code(ctx: Ctx, *, msisdn: str, code: str, address: str) -> SignInResult:
    if not is_msisdn(msisdn):
        return SignInResult(False, "bad_credentials")
    msisdn = normalize_msisdn(msisdn)
    turn = _take_turn(ctx, msisdn, address)
    if not turn.allowed:
        _record(ctx, method="sms_code", subject=msisdn, address=address, success=False, reason="locked")
        return SignInResult(False, "locked")
    now = ctx.now()
    c = LoginCode
    live = (c.used_at.is_(None), c.expires_at > now)
    newest = ctx.session.scalar(select(c.id).where(c.msisdn == msisdn, *live).order_by(c.id.desc()).limit(1))
    # the code's own count moves with the same kind of conditional UPDATE: a guess is checked
    # only if it could take one of the code's attempts, so parallel guesses cannot outrun it
    claimed = (
        None
        if newest is None
        else ctx.session.execute(
            update(c)
            .where(c.msisdn == msisdn, c.id == newest, *live, c.attempts < rules.LOGIN_CODE_ATTEMPTS)
            .values(attempts=c.attempts + 1)
            .returning(c.code_mac, c.attempts)
        ).first()
    )
    if claimed is None:
        return _refused(ctx, method="sms_code", subject=msisdn, address=address, reason="no_code", turn=turn)
    code = code.strip()
    assert newest is not None  # a claimed row has an id
    right = code_mac(login_key(ctx), msisdn, newest, code)
    if not (code.isdigit() and secrets.compare_digest(claimed.code_mac, right)):
        if claimed.attempts >= rules.LOGIN_CODE_ATTEMPTS:
            ctx.session.execute(update(c).where(c.msisdn == msisdn, c.id == newest).values(used_at=now))
        return _refused(ctx, method="sms_code", subject=msisdn, address=address, reason="bad_credentials", turn=turn)
    used = ctx.session.execute(
        update(c).where(c.msisdn == msisdn, c.id == newest, c.used_at.is_(None)).values(used_at=now).returning(c.id)
    ).first()
    if used is None:  # pragma: no cover - the row lock above makes this unreachable on both databases
        return _refused(ctx, method="sms_code", subject=msisdn, address=address, reason="no_code", turn=turn)
    _succeeded(ctx, msisdn, address)
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
    # back-off counters whose window and block are long over (a quiet window restarts them anyway)
    g = SignInGuard
    ctx.session.execute(
        delete(g).where(
            or_(g.last_failure_at.is_(None), g.last_failure_at < now - keep),
            or_(g.blocked_until.is_(None), g.blocked_until < now),
        )
    )
    return int(sessions.rowcount or 0) + int(codes.rowcount or 0)  # type: ignore[attr-defined]


# -- keys ---------------------------------------------------------------------------------------


def login_key(ctx: Ctx) -> bytes:
    """The MAC key for sign-in codes, from the sealing keys: never in the database (issue 12)."""
    return ctx.settings.sealer.mac_key("login-code")


def web_secret(ctx: Ctx) -> bytes:
    """Signs CSRF tokens: ``$MINGBAI_WEB_SECRET`` when set, else a key kept in the database."""
    env = os.environ.get("MINGBAI_WEB_SECRET", "")
    return env.encode() if env else stored_secret(ctx, "web_csrf")


# -- real-name profiles ------------------------------------------------------------------------


#: the kinds of identity document a profile may name
ID_TYPES = ("id_card", "passport", "other")


@dataclass(frozen=True)
class MaskedProfile:
    name: str
    id_type: str
    id_number: str


def masked_profile(ctx: Ctx, msisdn: str) -> MaskedProfile | None:
    """The subscriber's registered name and ID, masked (from the masked columns: nothing is
    opened). Seeing them unmasked is a vault operation (R13) that needs a second person's
    approval: :func:`open_profile`."""
    row = ctx.session.get(SubscriberProfile, normalize_msisdn(msisdn))
    if row is None:
        return None
    return MaskedProfile(row.name_masked, row.id_type, row.id_masked)


def open_profile(ctx: Ctx, msisdn: str) -> MaskedProfile | None:
    """The name and ID number in clear. Only the vault calls this, for an approved use; the
    shape is the masked one's, the values are not masked."""
    row = ctx.session.get(SubscriberProfile, normalize_msisdn(msisdn))
    if row is None:
        return None
    sealer = ctx.settings.sealer
    return MaskedProfile(sealer.open(row.name), row.id_type, sealer.open(row.id_number))


def save_profile(ctx: Ctx, *, msisdn: str, name: str, id_type: str, id_number: str) -> None:
    """Register (or change) who holds a number: sealed at rest, masked forms kept beside."""
    name, id_number = name.strip(), id_number.strip()
    for label, value, limit in (("name", name, 64), ("ID number", id_number, 32)):
        why = unstorable(value)
        if why:
            raise InvalidInput(f"{label} {why}")
        if not 1 <= len(value) <= limit:
            raise InvalidInput(f"{label} must be 1–{limit} characters")
    if id_type not in ID_TYPES:
        raise InvalidInput(f"id_type must be one of {', '.join(ID_TYPES)}")
    sealer = ctx.settings.sealer
    upsert(
        ctx.session,
        SubscriberProfile.__table__,
        [
            {
                "msisdn": normalize_msisdn(msisdn),
                "name": sealer.seal(name),
                "id_type": id_type,
                "id_number": sealer.seal(id_number),
                "name_masked": rules.mask_name(name),
                "id_masked": rules.mask_id_number(id_number),
                "updated_at": ctx.now(),
            }
        ],
        ["msisdn"],
    )
