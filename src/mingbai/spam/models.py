"""Spam governance tables (R12).

Subscriber-scoped rows (reports by a reporter, review items and block decisions for a
recipient) carry that subscriber's MSISDN first in their key. Strategies, ports and their
history are small reference tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only


class SpamStrategy(Base):
    """One immutable version of the interception strategy (thresholds, switches, model)."""

    __tablename__ = "spam_strategy"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class SpamStrategyActivation(Base):
    """Which version is in force since when; the newest row wins (rollback = activate again)."""

    __tablename__ = "spam_strategy_activation"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("spam_strategy.version"))
    activated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))


class SpamGeneration(Base):
    """A counter bumped by every change a running filter must pick up (strategy, ports,
    marked senders); filters poll it and reload when it moves."""

    __tablename__ = "spam_generation"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SpamPort(Base):
    """端口: an industry bulk-SMS port, its owner and the signature it must send."""

    __tablename__ = "spam_port"

    port: Mapped[str] = mapped_column(String(21), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(24))
    province: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


@append_only
class SpamPortEvent(Base):
    """Append-only history of a port: registration, every state change and why."""

    __tablename__ = "spam_port_event"

    port: Mapped[str] = mapped_column(String(21), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))


class SpamSenderMark(Base):
    """A person sender that confirmed reports have marked: watched (stricter) or blocked."""

    __tablename__ = "spam_sender_mark"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    confirmed_reports: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SpamReport(Base):
    """A report forwarded to 10086999 by a subscriber (the reporter)."""

    __tablename__ = "spam_report"
    __table_args__ = (
        Index("ix_spam_report_status_received_at", "status", "received_at"),
        Index("ix_spam_report_id", "id", unique=True),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mo_id: Mapped[int | None] = mapped_column(Id)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the reported sender as given (port, MSISDN or other number), None when not given
    reported_sender: Mapped[str | None] = mapped_column(String(21), index=True)
    #: port | person | other | unknown
    sender_kind: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    #: pending | confirmed | rejected | referred
    status: Mapped[str] = mapped_column(String(16))
    referred_to: Mapped[str | None] = mapped_column(String(16))
    exported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))


class SpamReview(Base):
    """A grey-zone message, delivered and queued for a person; the decision is a label."""

    __tablename__ = "spam_review"
    __table_args__ = (
        Index("ix_spam_review_status_created_at", "status", "created_at"),
        Index("ix_spam_review_id", "id", unique=True),
    )

    msisdn: Mapped[str] = mapped_column(String(21), primary_key=True)  # the recipient
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sender: Mapped[str] = mapped_column(String(21))
    port_type: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    strategy_version: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: open | decided
    status: Mapped[str] = mapped_column(String(16))
    #: spam | ham, once decided
    label: Mapped[str | None] = mapped_column(String(8))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@append_only
class SpamDecision(Base):
    """A blocked message: the audit trail of what was not delivered, and why."""

    __tablename__ = "spam_decision"
    __table_args__ = (Index("ix_spam_decision_at", "at"),)

    msisdn: Mapped[str] = mapped_column(String(21), primary_key=True)  # the recipient
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    sender: Mapped[str] = mapped_column(String(21))
    port_type: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    strategy_version: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
