from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base, Id, UtcDateTime


class ApiKey(Base):
    """An API credential. Only a SHA-256 of the key is stored; the key is shown once."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(24))
    #: set for role "sp": the one SP this key acts for
    sp_code: Mapped[str | None] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
