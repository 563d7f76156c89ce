"""Subscription tables. Every one carries the MSISDN as the first column of its key, so a
distributed PostgreSQL (Citus) can shard them all by subscriber without a rewrite."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only


class Order(Base):
    """订购请求: pending until the subscriber replies the code (二次确认)."""

    __tablename__ = "sub_order"
    __table_args__ = (
        Index("ix_sub_order_pending", "msisdn", "status"),
        Index("ix_sub_order_id", "id"),
        Index("uq_sub_order_external_ref", "msisdn", "sp_code", "external_ref", unique=True),
        Index(
            "ix_sub_order_expiry",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_code: Mapped[str] = mapped_column(String(32))
    sp_code: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    gifter: Mapped[str | None] = mapped_column(String(15))
    #: on the gifter's half of a gift order (a row keyed by the gifter's MSISDN): whom it pays for
    recipient: Mapped[str | None] = mapped_column(String(15))
    #: a gift order is two rows, the recipient's and the gifter's, each naming the other's id
    pair_id: Mapped[int | None] = mapped_column(Id)
    #: a gift half whose code was confirmed while the other half still waits (it stays pending)
    consented_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: pending → confirmed | expired | failed
    status: Mapped[str] = mapped_column(String(16))
    #: the price quoted in the confirmation SMS, which is the price the subscriber agreed to
    price_fen: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    code_mac: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    external_ref: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    #: the MO that placed the order (a keyword to an SP's number), when one did
    mo_id: Mapped[int | None] = mapped_column(Id)
    #: the subscriber's MO that carried the code and confirmed the order (consent evidence, R8)
    confirm_mo_id: Mapped[int | None] = mapped_column(Id)


class Subscription(Base):
    """订购关系: exists only because a confirmation created it."""

    __tablename__ = "subscription"
    __table_args__ = (
        # one active subscription per subscriber and service, enforced by the database
        Index(
            "uq_subscription_active",
            "msisdn",
            "service_code",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index("ix_subscription_confirmed_at", "confirmed_at"),
        Index("ix_subscription_sp", "sp_code", "status"),
        # the billing run's gift statement reads only these (few) rows of a chunk's range
        Index(
            "ix_subscription_gift",
            "msisdn",
            postgresql_where=text("payer_msisdn IS NOT NULL"),
            sqlite_where=text("payer_msisdn IS NOT NULL"),
        ),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_code: Mapped[str] = mapped_column(String(32))
    sp_code: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[int] = mapped_column(Id)
    channel: Mapped[str] = mapped_column(String(16))
    gifter: Mapped[str | None] = mapped_column(String(15))
    #: who pays its fees when that is not the subscriber: the gifter who confirmed paying (NULL:
    #: the subscriber pays; a gift ordered before gifters consented is paid by its recipient)
    payer_msisdn: Mapped[str | None] = mapped_column(String(15))
    #: active → unsubscribed
    status: Mapped[str] = mapped_column(String(16))
    billing: Mapped[str] = mapped_column(String(16))
    price_fen: Mapped[int] = mapped_column(Integer)
    trial: Mapped[bool] = mapped_column(Boolean)
    first_charge_on: Mapped[date | None] = mapped_column(Date)
    ordered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unsubscribe_channel: Mapped[str | None] = mapped_column(String(16))


@append_only
class SubscriptionEvent(Base):
    """Append-only history of every order and subscription change (who, channel, when, what).

    The database refuses UPDATE and DELETE on this table (triggers in the migration)."""

    __tablename__ = "subscription_event"
    __table_args__ = (
        Index("ix_subscription_event_time", "msisdn", "at"),
        # one chain per subscriber: a second row claiming the same place is refused (disputes/chain.py)
        Index("uq_subscription_event_chain", "msisdn", "chain_seq", unique=True),
    )

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    service_code: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[int | None] = mapped_column(Id)
    subscription_id: Mapped[int | None] = mapped_column(Id)
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: tamper evidence (R8): this row's place in the subscriber's chain and SHA-256(previous
    #: hash ‖ content), set by the one writer (``record_events`` → ``disputes.chain.link``)
    chain_seq: Mapped[int | None] = mapped_column(Integer)
    chain_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class UnsubscribeMenu(Base):
    """The numbered list last sent in reply to "0000", so "1 3" means what the phone showed."""

    __tablename__ = "unsubscribe_menu"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    subscription_ids: Mapped[list[int]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlatformKey(Base):
    """Server-side keys kept in the database when none is configured (e.g. the code MAC key)."""

    __tablename__ = "platform_key"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
