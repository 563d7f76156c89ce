"""subscriptions: a gift is paid by its gifter, who confirms paying with a code of their own

Revision ID: 0003_gift_consent
Revises: 0002_catalog_status_change
Create Date: 2026-12-04 23:45:00

A gift order becomes two ``sub_order`` rows, the recipient's and the gifter's (keyed by the
gifter's MSISDN, so the gifter's code reply stays a one-subscriber read): ``recipient`` and
``pair_id`` link them, ``consented_at`` marks a half confirmed while the other waits. The
subscription records who pays (``payer_msisdn``, NULL when the subscriber does); existing gifts
were agreed by their recipients only, so they stay paid by them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mingbai.db

revision = "0003_gift_consent"
down_revision = "0002_catalog_status_change"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sub_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient", sa.String(length=15), nullable=True))
        batch_op.add_column(
            sa.Column("pair_id", sa.BigInteger().with_variant(sa.BigInteger(), "sqlite"), nullable=True)
        )
        batch_op.add_column(sa.Column("consented_at", mingbai.db.UtcDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payer_msisdn", sa.String(length=15), nullable=True))
        batch_op.create_index(
            "ix_subscription_gift",
            ["msisdn"],
            unique=False,
            postgresql_where=sa.text("payer_msisdn IS NOT NULL"),
            sqlite_where=sa.text("payer_msisdn IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_gift")
        batch_op.drop_column("payer_msisdn")
    with op.batch_alter_table("sub_order", schema=None) as batch_op:
        batch_op.drop_column("consented_at")
        batch_op.drop_column("pair_id")
        batch_op.drop_column("recipient")
