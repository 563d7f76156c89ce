"""The vault's tables (issue 16, R13) and the sensitive stores it guards.

- ``vault_request`` ``(id)``: one sensitive operation asked for; its status moves (pending →
  approved → used, or denied / expired); operational, a local table on Citus.
- ``vault_decision`` ``(request_id, approver)``: append-only, one approval or denial per approver.
- ``vault_code`` ``(phone, id)``: the one-time code an approver's phone got (only its MAC).
- ``vault_access`` ``(msisdn, id)``: append-only, every time staff saw a subscriber's data through
  the vault (the subscriber's access history).
- ``cdr_record`` ``(msisdn, id)``: call detail records (详单), append-only.
- ``location_record`` ``(msisdn, id)``: where a subscriber's phone was seen (cell, time), append-only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only


class VaultRequest(Base):
    """One named sensitive operation on one subject, asked for by one staff identity with a reason."""

    __tablename__ = "vault_request"
    __table_args__ = (
        Index("ix_vault_request_status", "status", "id"),
        Index("ix_vault_request_requester", "requester", "id"),
        Index("ix_vault_request_review", "review_status", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    #: cdr | location | identity | export | identity_change (vault.rules.Operation)
    operation: Mapped[str] = mapped_column(String(16))
    #: the subscriber the operation is about ('' for an export)
    msisdn: Mapped[str] = mapped_column(String(15), default="")
    #: canonical JSON of what exactly is asked: the date range, the export's filters, the new identity data
    params: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(200))
    #: the requester's identity (vault.rules.identity): ``staff:<username>``
    requester: Mapped[str] = mapped_column(String(80))
    requester_role: Mapped[str] = mapped_column(String(24))
    requester_unit: Mapped[str] = mapped_column(String(64))
    #: the requester's own phone when known: an approver on the same phone is the same person
    requester_phone: Mapped[str | None] = mapped_column(String(15))
    #: how the requester came: session | key | cli
    via: Mapped[str] = mapped_column(String(16))
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    approvals_needed: Mapped[int] = mapped_column(Integer)
    approvals: Mapped[int] = mapped_column(Integer, default=0)
    #: pending | approved | denied | expired | used
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: a pending request no approver answered expires here
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the approval's window: usable while now < usable_until
    usable_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    denied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    denial_reason: Mapped[str | None] = mapped_column(String(200))
    #: break-glass only: pending | accepted | escalated
    review_status: Mapped[str | None] = mapped_column(String(16))
    reviewed_by: Mapped[str | None] = mapped_column(String(80))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    review_note: Mapped[str | None] = mapped_column(String(200))


@append_only
class VaultDecision(Base):
    """An approver's answer to a request. Append-only; one per approver identity and request."""

    __tablename__ = "vault_decision"

    request_id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    approver: Mapped[str] = mapped_column(String(80), primary_key=True)
    role: Mapped[str] = mapped_column(String(24))
    #: approve | deny
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(200), default="")
    #: session | sms | cli
    via: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class VaultCode(Base):
    """The one-time code sent to an approver's phone for one request; only its MAC is kept."""

    __tablename__ = "vault_code"
    __table_args__ = (Index("ix_vault_code_request", "request_id"),)

    phone: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    request_id: Mapped[int] = mapped_column(Id)
    #: the approver's identity the code was made for
    approver: Mapped[str] = mapped_column(String(80))
    code_mac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@append_only
class VaultAccess(Base):
    """Staff saw this subscriber's data (append-only): the subscriber's own access history.
    Names no person: the unit and role are what the subscriber is told."""

    __tablename__ = "vault_access"
    __table_args__ = (Index("ix_vault_access_request", "request_id"),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    request_id: Mapped[int] = mapped_column(Id)
    operation: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(200))
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


@append_only
class CdrRecord(Base):
    """One call detail record (详单): a call, an SMS or a data session."""

    __tablename__ = "cdr_record"
    __table_args__ = (Index("ix_cdr_record_started", "msisdn", "started_at"),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: voice | sms | data
    kind: Mapped[str] = mapped_column(String(8))
    #: out | in
    direction: Mapped[str] = mapped_column(String(4))
    #: the other number ('' for data)
    other_party: Mapped[str] = mapped_column(String(20), default="")
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    volume_kb: Mapped[int] = mapped_column(Integer, default=0)
    cell_id: Mapped[str] = mapped_column(String(32), default="")


@append_only
class LocationRecord(Base):
    """Where the phone was seen: the serving cell at an instant."""

    __tablename__ = "location_record"
    __table_args__ = (Index("ix_location_record_at", "msisdn", "at"),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    cell_id: Mapped[str] = mapped_column(String(32))
    #: the cell's area as people name it (长沙市岳麓区…)
    area: Mapped[str] = mapped_column(String(64), default="")
    #: the cell's position, micro-degrees (0 when unknown)
    lat_e6: Mapped[int] = mapped_column(Integer, default=0)
    lon_e6: Mapped[int] = mapped_column(Integer, default=0)
