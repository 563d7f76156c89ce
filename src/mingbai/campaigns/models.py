"""Campaign tables: the campaign and its planned targets (one per subscriber per batch)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime


class Campaign(Base):
    """A paced bulk reminder. ``cursor_at`` is how far its send slots have been handed out."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    #: planned → running ⇄ paused → done (every target released) | ended (window closed first)
    status: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rate_per_s: Mapped[float] = mapped_column(Float)
    #: "21:00-08:00" Asia/Shanghai; bulk SMS never goes out in it
    quiet_hours: Mapped[str] = mapped_column(String(16))
    #: subscriptions confirmed at or after this instant count as "ordered in the last 3 months"
    recent_since: Mapped[datetime] = mapped_column(UtcDateTime)
    planned: Mapped[int] = mapped_column(BigInteger, default=0)
    #: targets with seq <= released_seq have their SMS in the outbox
    released_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))


class CampaignTarget(Base):
    """One SMS to plan: a subscriber in one batch of the seed's table, in release order ``seq``."""

    __tablename__ = "campaign_target"
    __table_args__ = (Index("uq_campaign_target_seq", "campaign_id", "seq", unique=True),)

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    #: "all" for sensitive subscribers (batch 1), else wap | sms | mms | other
    kind_group: Mapped[str] = mapped_column(String(8))
    #: for kind batches: whether the batch is the "ordered in the last 3 months" one
    recent: Mapped[bool] = mapped_column(Boolean)
    subscriptions: Mapped[int] = mapped_column(Integer)
