"""charging: a usage import is applied in chunks and remembers how far it got (issue 12)

``usage_import.status`` is ``running`` while chunks are being committed and ``done`` after the
last; ``last_line`` is the file line of the last committed record, where a rerun resumes.

Revision ID: 0203_usage_import_progress
Revises: 0202_credit_reference
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0203_usage_import_progress"
down_revision = "0202_credit_reference"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_import", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=8), nullable=False, server_default="done"))
        batch_op.add_column(sa.Column("last_line", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage_import", schema=None) as batch_op:
        batch_op.drop_column("last_line")
        batch_op.drop_column("status")
