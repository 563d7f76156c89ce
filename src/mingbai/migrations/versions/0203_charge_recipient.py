"""charging: a gift's fee is charged to its gifter and names the recipient

Revision ID: 0203_charge_recipient
Revises: 0202_charge_instants
Create Date: 2026-12-04 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0203_charge_recipient"
down_revision = "0202_charge_instants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("charge", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_msisdn", sa.String(length=15), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("charge", schema=None) as batch_op:
        batch_op.drop_column("recipient_msisdn")
