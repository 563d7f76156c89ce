"""accounts: a staff member's phone and unit, for vault approvals by SMS and subscriber notices (issue 16)

Revision ID: 0605_staff_phone
Revises: 0604_profile_sealed
Create Date: 2026-12-05 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0605_staff_phone"
down_revision = "0604_profile_sealed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff_user", sa.Column("phone", sa.String(length=15), nullable=True))
    op.add_column("staff_user", sa.Column("unit", sa.String(length=64), nullable=True))
    op.create_index("ix_staff_user_phone", "staff_user", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_staff_user_phone", table_name="staff_user")
    op.drop_column("staff_user", "unit")
    op.drop_column("staff_user", "phone")
