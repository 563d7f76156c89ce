"""Dispute tables (R8). Subscriber-scoped: the MSISDN leads every key, so Citus can distribute
them by subscriber beside the charges and subscriptions they are about.

A dispute is the subscriber's complaint about one or more charges (``dispute_item``, one per
charge: a charge is disputed once, ever). The money it paid is in the ledger
(``balance_entry`` kinds ``refund`` and ``return``, referenced by charge); what the SP owes for
it is ``dispute_item.sp_owes_fen``, which settlement (R9) reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only


class Dispute(Base):
    """费用争议: who complained, when, by which channel and in which words, and the decision."""

    __tablename__ = "dispute"
    __table_args__ = (
        Index("ix_dispute_id", "id"),
        # a replayed request (same reference) returns the dispute it made
        Index("uq_dispute_request_ref", "msisdn", "request_ref", unique=True),
        # the scheduler's 72-hour pass reads only the disputes still being verified
        Index(
            "ix_dispute_due",
            "due_at",
            postgresql_where=text("status = 'verifying'"),
            sqlite_where=text("status = 'verifying'"),
        ),
        Index("ix_dispute_status_opened", "status", "opened_at"),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: hotline | hall | web | sms
    channel: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    #: the subscriber's own words, as the agent typed them or the SMS said
    words: Mapped[str | None] = mapped_column(Text)
    #: the objection SMS ("YY"), when it came that way
    mo_id: Mapped[int | None] = mapped_column(Id)
    request_ref: Mapped[str | None] = mapped_column(String(64))
    subscription_id: Mapped[int | None] = mapped_column(Id)
    #: confirm_first | refund_first, as the category's policy stood when it was opened
    policy: Mapped[str] = mapped_column(String(16))
    #: verifying → decided
    status: Mapped[str] = mapped_column(String(16))
    #: the headline rule (rules.Rule); None while verifying
    rule: Mapped[str | None] = mapped_column(String(20))
    refund_fen: Mapped[int] = mapped_column(Integer, default=0)
    return_fen: Mapped[int] = mapped_column(Integer, default=0)
    #: the end of the 72 hours (seed 004: 逾期(超过3日)不能查证的, 只退费)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    #: verified_legitimate | not_verifiable (the verification step), None when decided at once
    outcome: Mapped[str | None] = mapped_column(String(24))
    #: a discretionary refund is flagged with the agent's reason (supervisors review them)
    discretionary: Mapped[bool] = mapped_column(Boolean, default=False)
    discretionary_reason: Mapped[str | None] = mapped_column(String(200))
    #: the subscription was left running at the subscriber's request
    kept_service: Mapped[bool] = mapped_column(Boolean, default=False)


class DisputeItem(Base):
    """One disputed charge: its rule, the findings the rule stood on, and what it paid."""

    __tablename__ = "dispute_item"
    __table_args__ = (
        # a charge is disputed once: a double click or a second channel finds the first dispute
        Index("uq_dispute_item_charge", "msisdn", "charge_id", unique=True),
        Index("ix_dispute_item_dispute", "msisdn", "dispute_id"),
        # the SP's view and settlement: its refunds by time
        Index("ix_dispute_item_sp", "sp_code", "decided_at"),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(Id)
    charge_id: Mapped[int] = mapped_column(Id)
    subscription_id: Mapped[int] = mapped_column(Id)
    service_code: Mapped[str] = mapped_column(String(32))
    sp_code: Mapped[str] = mapped_column(String(32))
    #: the service's category (catalog type) whose policy applied
    category: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str | None] = mapped_column(String(20))
    #: [{"code", "rule", "reason"}] and what was checked and passed
    findings: Mapped[dict[str, Any]] = mapped_column(JSON)
    refund_fen: Mapped[int] = mapped_column(Integer, default=0)
    return_fen: Mapped[int] = mapped_column(Integer, default=0)
    #: refund and return paid on the SP's behalf, owed by it (settlement, R9)
    sp_owes_fen: Mapped[int] = mapped_column(Integer, default=0)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@append_only
class DisputePolicy(Base):
    """先确认后退费 or 先退费后查证 for a service category, with its history: the newest row of a
    category is its policy; rows are never changed."""

    __tablename__ = "dispute_policy"
    __table_args__ = (Index("ix_dispute_policy_category", "category", "set_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    #: a catalog service type (sms, mms, wap, …) or "*" for every category without its own
    category: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(16))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(200))
