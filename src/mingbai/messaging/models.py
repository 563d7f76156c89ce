"""Messaging tables: every MO received and every MT to send, keyed by the subscriber's MSISDN."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime


class MoMessage(Base):
    """A mobile-originated SMS, kept as evidence of what the subscriber actually sent (R8)."""

    __tablename__ = "mo_message"
    __table_args__ = (Index("ix_mo_message_received_at", "received_at"),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(21))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: what the router made of it: query, unsubscribe, confirm, help, …
    handled_as: Mapped[str | None] = mapped_column(String(32))


class OutboundSms(Base):
    """An MT in the durable outbox. ``dedupe_key`` makes "send once" a uniqueness rule."""

    __tablename__ = "sms_outbox"
    __table_args__ = (
        Index("uq_sms_outbox_dedupe", "msisdn", "dedupe_key", unique=True),
        Index(
            "ix_sms_outbox_due",
            "due_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sender: Mapped[str] = mapped_column(String(21))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    #: "concat" (one message in UDH parts) or "numbered" (separate "(1/2)…" messages)
    segmentation: Mapped[str] = mapped_column(String(10), default="concat")
    dedupe_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    parts: Mapped[int | None] = mapped_column(Integer)
    mo_id: Mapped[int | None] = mapped_column(Id)
    gateway_ref: Mapped[str | None] = mapped_column(String(64))
