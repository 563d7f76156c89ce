"""Messaging tables: every MO received and every MT to send, keyed by the subscriber's MSISDN."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only
from mingbai.sealing import SEALED_SQL


@append_only
class MoMessage(Base):
    """A mobile-originated SMS, kept as evidence of what the subscriber actually sent (R8)."""

    __tablename__ = "mo_message"
    __table_args__ = (
        Index("ix_mo_message_received_at", "received_at"),
        # one chain per subscriber: a second row claiming the same place is refused (disputes/chain.py)
        Index("uq_mo_message_chain", "msisdn", "chain_seq", unique=True),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(21))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: what the router made of it: query, unsubscribe, confirm, help, …
    handled_as: Mapped[str | None] = mapped_column(String(32))
    #: tamper evidence (R8): place in the sender's chain and SHA-256(previous hash ‖ content),
    #: set by the one writer (``record_mos`` → ``disputes.chain.link``)
    chain_seq: Mapped[int | None] = mapped_column(Integer)
    chain_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


#: rows the send-once index holds: those with a dedupe key (0503)
KEYED = "dedupe_key IS NOT NULL"
#: rows the (status, created_at) index holds (0503); queued rows are found by ix_sms_outbox_due
PAST_QUEUED = "status <> 'queued'"
#: the conflict clause of a set-based outbox insert with dedupe keys: ON CONFLICT finds a partial
#: unique index only when it repeats the index's condition
ON_DEDUPE_KEY = f"ON CONFLICT (msisdn, dedupe_key) WHERE {KEYED} DO NOTHING"


class OutboundSms(Base):
    """An MT in the durable outbox. ``dedupe_key`` makes "send once" a uniqueness rule."""

    __tablename__ = "sms_outbox"
    __table_args__ = (
        # send-once for rows with a key (0503): a row without one never conflicts, so it has no
        # entry; a deduction reminder is sent once by its primary key (its id is its charge's)
        Index(
            "uq_sms_outbox_dedupe",
            "msisdn",
            "dedupe_key",
            unique=True,
            postgresql_where=text(KEYED),
            sqlite_where=text(KEYED),
        ),
        Index(
            "ix_sms_outbox_due",
            "due_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # receipts find their row by the SMSC's message id; operators ask for the oldest open row.
        # gateway_ref and tag stay NULL on most rows (until submission; outside campaigns) and are
        # only ever looked up by equality, so those two indexes leave the NULLs out (0502): a
        # reminder the billing run writes then updates four indexes, not six.
        Index(
            "ix_sms_outbox_gateway_ref",
            "gateway_ref",
            postgresql_where=text("gateway_ref IS NOT NULL"),
            sqlite_where=text("gateway_ref IS NOT NULL"),
        ),
        # open rows past queued by age (queued rows are found by ix_sms_outbox_due, 0503)
        Index(
            "ix_sms_outbox_status_created",
            "status",
            "created_at",
            postgresql_where=text(PAST_QUEUED),
            sqlite_where=text(PAST_QUEUED),
        ),
        # rows whose text is still sealed (a one-time code on its way, mingbai.sealing): the
        # redaction pass reads only these (0504)
        Index(
            "ix_sms_outbox_sealed",
            "created_at",
            postgresql_where=text(SEALED_SQL),
            sqlite_where=text(SEALED_SQL),
        ),
        Index(
            "ix_sms_outbox_tag",
            "tag",
            "status",
            postgresql_where=text("tag IS NOT NULL"),
            sqlite_where=text("tag IS NOT NULL"),
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
    # -- the SMPP path (migration 0501_smpp): see docs/SMS.md for the state machine
    #: how many times the row has been claimed for submission
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the gateway run that claimed it (status submitting); a run that is gone leaves it in doubt
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: bulk traffic (campaigns) waits out the quiet hours; replies and confirmations do not
    bulk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: groups bulk rows for progress counts, e.g. "campaign:7"
    tag: Mapped[str | None] = mapped_column(String(32))
    #: when the row reached a final state
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the last error: SMPP status name, receipt stat, or why it was resubmitted
    error: Mapped[str | None] = mapped_column(String(64))
    #: in_doubt rows wait until then for a receipt before they are submitted again
    doubt_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SmsPart(Base):
    """One accepted (or refused) part of a multi-part MT: its own SMSC id and receipt state."""

    __tablename__ = "sms_part"
    __table_args__ = (Index("ix_sms_part_smsc_id", "smsc_id"),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(Id, primary_key=True)
    part_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer)
    smsc_id: Mapped[str | None] = mapped_column(String(64))
    #: submitted | delivered | undeliverable | expired | rejected
    status: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(String(64))


class SmsReceiptOrphan(Base):
    """A delivery receipt whose SMSC id matched no row (kept as evidence; matched later if it can be)."""

    __tablename__ = "sms_receipt_orphan"
    __table_args__ = (Index("ix_sms_receipt_orphan_smsc_id", "smsc_id"),)

    msisdn: Mapped[str] = mapped_column(String(21), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    smsc_id: Mapped[str] = mapped_column(String(64))
    stat: Mapped[str] = mapped_column(String(16))
    err: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SmsMoPart(Base):
    """A part of a concatenated MO, kept until its siblings arrive (survives a restart)."""

    __tablename__ = "sms_mo_part"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(21), primary_key=True)
    ref: Mapped[int] = mapped_column(Integer, primary_key=True)
    total: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SmsGatewayLease(Base):
    """Who may submit from the outbox: one gateway run at a time, so a run that vanished is known dead."""

    __tablename__ = "sms_gateway_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(40))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
