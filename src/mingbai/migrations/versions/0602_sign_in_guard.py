"""accounts: sign-in back-off counted atomically per account × address (issue 12)

Revision ID: 0602_sign_in_guard
Revises: 0601_accounts
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mingbai.db

revision = "0602_sign_in_guard"
down_revision = "0601_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_guard",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", mingbai.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("blocked_until", mingbai.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", "address", name=op.f("pk_sign_in_guard")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_guard")
