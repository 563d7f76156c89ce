"""Charging tables (R6, R7): charges, billing runs, objections, usage, the prepaid ledger, points.

Every subscriber-scoped table has the MSISDN as the first column of its primary key and of
every unique rule, so the whole capability distributes by subscriber (Citus) as it stands.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only


class Charge(Base):
    """信息费: one fee raised for a subscription — a month of a monthly service, or one usage
    record of a per-use service.

    ``uq_charge_once`` is what makes a rerun or a restarted run harmless: a monthly charge is
    (msisdn, subscription, period, '') and a per-use charge adds the usage record's id, so the
    same fee can be inserted any number of times and exists once.
    """

    __tablename__ = "charge"
    __table_args__ = (Index("uq_charge_once", "msisdn", "subscription_id", "period", "usage_ref", unique=True),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(Id)
    service_code: Mapped[str] = mapped_column(String(32))
    sp_code: Mapped[str] = mapped_column(String(32))
    #: monthly | per_use
    kind: Mapped[str] = mapped_column(String(8))
    #: the Asia/Shanghai month the fee is for, ``YYYY-MM``
    period: Mapped[str] = mapped_column(String(7))
    #: '' for a monthly fee; the collection point's record id for a per-use fee
    usage_ref: Mapped[str] = mapped_column(String(64), default="")
    amount_fen: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    #: the billing run or usage import that raised it
    batch_id: Mapped[int] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: when the service was used (per-use), or when the monthly fee fell due: 00:00 on the 1st, or
    #: the confirmation of a re-order during the month (the bill's date)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: a gift's fee is the gifter's (``msisdn``, who pays); this is whose subscription it is for
    recipient_msisdn: Mapped[str | None] = mapped_column(String(15))


class BillingRun(Base):
    """One execution of the monthly run (or of the mid-month catch-up) with its figures."""

    __tablename__ = "billing_run"
    __table_args__ = (Index("ix_billing_run_period", "period", "started_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    #: full (every subscription) | catchup (re-orders confirmed this month)
    mode: Mapped[str] = mapped_column(String(8))
    #: running → done; a run that never finished is shown as interrupted by the next one
    status: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    seen: Mapped[int] = mapped_column(Integer, default=0)
    charged: Mapped[int] = mapped_column(Integer, default=0)
    amount_fen: Mapped[int] = mapped_column(Id, default=0)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    #: why the others were not charged: one counter per reason, added to chunk by chunk
    skip_not_monthly: Mapped[int] = mapped_column(Integer, default=0)
    skip_ordered_after_period: Mapped[int] = mapped_column(Integer, default=0)
    skip_unsubscribed_before_period: Mapped[int] = mapped_column(Integer, default=0)
    skip_in_trial: Mapped[int] = mapped_column(Integer, default=0)
    skip_free_of_charge: Mapped[int] = mapped_column(Integer, default=0)
    skip_already_charged: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    #: the last MSISDN whose chunk is committed (progress, and where a killed run had got to)
    last_msisdn: Mapped[str | None] = mapped_column(String(15))
    #: subscriptions confirmed before this instant were considered
    confirmed_before: Mapped[datetime] = mapped_column(UtcDateTime)


class BillingWatermark(Base):
    """Per period: confirmations before ``confirmed_before`` have been looked at by a run, so the
    scheduler's catch-up pass for re-orders reads only what is newer."""

    __tablename__ = "billing_watermark"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    confirmed_before: Mapped[datetime] = mapped_column(UtcDateTime)


class ChargeObjection(Base):
    """异议: the subscriber disputes a charge. The subscription was stopped when this was
    recorded; the refund decision (R8) starts from here: which charge, when, by which channel."""

    __tablename__ = "charge_objection"
    __table_args__ = (Index("uq_charge_objection_charge", "msisdn", "charge_id", unique=True),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    charge_id: Mapped[int] = mapped_column(Id)
    subscription_id: Mapped[int] = mapped_column(Id)
    service_code: Mapped[str] = mapped_column(String(32))
    sp_code: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(7))
    objected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: sms | hotline | hall | web
    channel: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    #: the MO that carried it, when it came by SMS (evidence for R8)
    mo_id: Mapped[int | None] = mapped_column(Id)
    #: ``disputed`` once it opened a dispute (disputes.service: every objection does at once)
    status: Mapped[str] = mapped_column(String(16), default="open")


class UsageImport(Base):
    """One accepted usage file; the same file (by SHA-256) is never applied twice. Applied in
    chunks: ``running`` with the file line of the last committed record, then ``done``."""

    __tablename__ = "usage_import"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(Integer)
    new_records: Mapped[int] = mapped_column(Integer)
    charges: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Id)
    alerts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), server_default="done")
    last_line: Mapped[int] = mapped_column(Integer, server_default="0")


@append_only
class UsageRecord(Base):
    """A usage record from a collection point: a per-use VAS download, data, a call or an SMS."""

    __tablename__ = "usage_record"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    #: the collection point's id for the record; the same id is the same record
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UtcDateTime)
    period: Mapped[str] = mapped_column(String(7))
    #: vas | data | voice | sms
    kind: Mapped[str] = mapped_column(String(8))
    service_code: Mapped[str | None] = mapped_column(String(32))
    #: vas: uses; data: KB; voice: seconds; sms: messages
    quantity: Mapped[int] = mapped_column(Id)
    #: '' at home, 'domestic' roaming in China, 'abroad'
    roaming: Mapped[str] = mapped_column(String(10), default="")
    import_id: Mapped[int] = mapped_column(Id)


@append_only
class BalanceEntry(Base):
    """A credit to the prepaid account: 充值 recharge (card), 交费 payment, 赠送 gift, 返还 return,
    退费 refund. Charges are the debits; the balance is the sum of both (never a stored figure
    that could drift from its history)."""

    __tablename__ = "balance_entry"
    __table_args__ = (Index("uq_balance_entry_ref", "msisdn", "kind", "ref", unique=True),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    #: recharge | payment | gift | return | refund
    kind: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    #: card number, bank reference, promotion code: a repeated reference is the same credit
    ref: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))


@append_only
class CreditReference(Base):
    """One reference (a bank receipt, a promotion code) per ledger: the subscriber it was
    credited to. ``balance_entry`` is distributed by MSISDN and cannot hold a unique rule across
    subscribers; this small table can, so a reference is never credited to two subscribers."""

    __tablename__ = "credit_reference"

    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(15))


class RechargeCard(Base):
    """充值卡: a prepaid card. Seed 002: cards issued from 2012-01-01 are valid 5 years; older
    cards not yet expired then were extended by 3 years."""

    __tablename__ = "recharge_card"

    card_no: Mapped[str] = mapped_column(String(20), primary_key=True)
    face_value_fen: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    #: new | used
    status: Mapped[str] = mapped_column(String(8), default="new")
    used_by: Mapped[str | None] = mapped_column(String(15))
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@append_only
class PointsEntry(Base):
    """积分: points earned (by paying) and spent; the bill shows the balance and every change."""

    __tablename__ = "points_entry"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(64))
