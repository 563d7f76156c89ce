"""catalog: who suspended or resumed which SP or service, and why

Revision ID: 0002_catalog_status_change
Revises: 0001_core
Create Date: 2026-12-04 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mingbai.db

revision = "0002_catalog_status_change"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_status_change",
        sa.Column("id", sa.BigInteger().with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("at", mingbai.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("target", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_catalog_status_change_code", "catalog_status_change", ["target", "code", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_catalog_status_change_code", table_name="catalog_status_change")
    op.drop_table("catalog_status_change")
