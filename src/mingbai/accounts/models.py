"""Tables for people who sign in to the consoles, their sessions and the sign-in log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only


class StaffUser(Base):
    """A member of staff (agent, clerk, supervisor, operator, security, auditor) or an SP's user."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))
    #: set for role "sp": the one SP this user acts for
    sp_code: Mapped[str | None] = mapped_column(String(32))
    #: argon2id PHC string; never the password
    password_hash: Mapped[str] = mapped_column(String(200))
    #: active | disabled
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the staff member's own phone (vault approvals by SMS, security alerts); NULL when unknown (0605)
    phone: Mapped[str | None] = mapped_column(String(15), index=True)
    #: the unit they work in (营业厅, 客服中心…): what a subscriber is told about who saw their data
    unit: Mapped[str | None] = mapped_column(String(64))


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_user", "user_id"), Index("ix_web_session_seen", "last_seen_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int | None] = mapped_column(Id)
    msisdn: Mapped[str | None] = mapped_column(String(15))
    sp_code: Mapped[str | None] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginCode(Base):
    """A one-time sign-in code sent by SMS to a subscriber (only its MAC is kept)."""

    __tablename__ = "login_code"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code_mac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@append_only
class SignInAttempt(Base):
    """Every sign-in try, kept for rate limiting and for the security approver's review."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (
        Index("ix_sign_in_attempt_subject", "subject", "at"),
        Index("ix_sign_in_attempt_address", "address", "at"),
        Index("ix_sign_in_attempt_at", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: password | sms_code | sms_request
    method: Mapped[str] = mapped_column(String(16))
    #: the username or MSISDN tried; screens show it masked
    subject: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))


class SignInGuard(Base):
    """Failed sign-ins counted per account × address (and per address alone, ``subject = ''``).

    Every attempt first counts itself here with one conditional UPDATE, which refuses it while
    ``blocked_until`` is ahead, so parallel guesses cannot slip past the count (0602). A block
    is a back-off, not a lock: it holds one account × address pair, so whoever guesses from
    elsewhere never keeps the real user out."""

    __tablename__ = "sign_in_guard"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SubscriberProfile(Base):
    """实名登记: who holds a number. Kept sealed at rest; screens show it masked (张*, 4301**********1234) (R13)."""

    __tablename__ = "subscriber_profile"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    #: sealed (mingbai.sealing): opened only for a vault-approved use or a change of the data
    name: Mapped[str] = mapped_column(String(255))
    #: id_card | passport | other
    id_type: Mapped[str] = mapped_column(String(16))
    #: sealed, as ``name``
    id_number: Mapped[str] = mapped_column(String(255))
    #: what every screen shows: 张*, 4301**********1234
    name_masked: Mapped[str] = mapped_column(String(64), default="")
    id_masked: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
