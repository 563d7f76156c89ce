"""charging: a credit reference is unique per ledger, across subscribers (issue 12)

``credit_reference`` (kind, ref) → the subscriber credited. References already used by two
subscribers keep their first (smallest MSISDN) owner; the other entries stay in the ledger as they
were, and a new credit with that reference is refused for anyone else.

Revision ID: 0202_credit_reference
Revises: 0201_charging
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0202_credit_reference"
down_revision = "0201_charging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_reference",
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref", name=op.f("pk_credit_reference")),
    )
    op.execute(
        "INSERT INTO credit_reference (kind, ref, msisdn) "
        "SELECT kind, ref, MIN(msisdn) FROM balance_entry WHERE ref IS NOT NULL GROUP BY kind, ref"
    )


def downgrade() -> None:
    op.drop_table("credit_reference")
