"""The audit log's tables: the entries (append-only, hash-chained), the chain's head, and the
signed checkpoints.

``audit_entry`` is operator-wide, not subscriber-scoped: its subject number is stored only as a
keyed MAC (``subject_mac``) beside its masked form, so it has no MSISDN to distribute by and stays
a plain table on a Citus coordinator (docs/citus.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, UtcDateTime, append_only


@append_only
class AuditEntry(Base):
    """One staff action: who (actor, role), what (action), on whom (subject), from where, when,
    with what outcome. Never updated or deleted; ``hash`` chains it to the entry before."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_subject", "subject_mac", "seq"),
        Index("ix_audit_entry_actor", "actor", "seq"),
        Index("ix_audit_entry_action", "action", "seq"),
        # BRIN on PostgreSQL (migration 0801): entries arrive in time order
        Index("ix_audit_entry_at", "at", postgresql_using="brin"),
    )

    #: 1, 2, 3… without a gap: its place in the chain
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: who: ``agent:alice``, ``security:bob``, ``operator:cli``… (Principal.actor)
    actor: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(24))
    #: what: ``subscriber.view``, ``vault.approve``, ``catalog.price``… (mingbai.audit.actions)
    action: Mapped[str] = mapped_column(String(48))
    #: HMAC-SHA256 of the subject's MSISDN under a key outside the database ('' when none)
    subject_mac: Mapped[str] = mapped_column(String(64), default="")
    #: what the entry is about, as screens may show it: 138****5678, sp:SP001, export:…
    subject: Mapped[str] = mapped_column(String(80), default="")
    #: from where: the client address, ``cli``, ``scheduler``
    address: Mapped[str] = mapped_column(String(64), default="")
    #: ok | denied | failed
    outcome: Mapped[str] = mapped_column(String(16))
    #: compact JSON, masked like every log (no number, code or secret in clear)
    detail: Mapped[str] = mapped_column(Text, default="")
    #: SHA-256 hex of (the previous entry's hash ‖ this entry's canonical form)
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's end: one row (id 1), updated by every append under its row lock, so entries
    get their ``seq`` and ``hash`` one writer at a time."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


@append_only
class AuditCheckpoint(Base):
    """A signed (Ed25519) statement of the chain's head at some moment. An auditor may copy it
    out (``mingbai audit checkpoint --out``) and later hand it to ``mingbai audit verify
    --checkpoint``: a chain cut short or rewritten after it no longer matches."""

    __tablename__ = "audit_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
