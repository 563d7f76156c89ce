"""Catalog tables (R1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime, append_only


class Sp(Base):
    """服务提供商: a third-party service provider."""

    __tablename__ = "sp"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    hotline: Mapped[str] = mapped_column(String(20))
    contact: Mapped[str | None] = mapped_column(String(64))
    #: the SP's short number that subscribers send MO keywords to (e.g. 1066xxxx)
    access_number: Mapped[str | None] = mapped_column(String(21), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    credit_points: Mapped[int] = mapped_column(Integer, default=100)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Service(Base):
    """业务: one service an SP sells, with its catalog price in fen."""

    __tablename__ = "service"
    __table_args__ = (Index("uq_service_sp_keyword", "sp_code", "mo_keyword", unique=True),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    sp_code: Mapped[str] = mapped_column(ForeignKey("sp.code"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    billing: Mapped[str] = mapped_column(String(16))
    price_fen: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(String(16), default="national")
    status: Mapped[str] = mapped_column(String(16), default="active")
    mo_keyword: Mapped[str | None] = mapped_column(String(20))
    #: "新浪提供的头条新闻短信业务,信息费30元/月", kept in step with SP and service names
    reminder_label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Subscriber(Base):
    """客户: a mobile subscriber, keyed by MSISDN."""

    __tablename__ = "subscriber"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    brand: Mapped[str] = mapped_column(String(16))
    province: Mapped[str] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(32))
    package: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


@append_only
class CatalogStatusChange(Base):
    """Who suspended or resumed which SP or service, when and why (append-only)."""

    __tablename__ = "catalog_status_change"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: "sp" or "service"
    target: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_catalog_status_change_code", "target", "code", "at"),)
