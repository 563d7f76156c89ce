"""Charges: rewrite fee instants stored in the wrong text form on SQLite

Before this revision the billing run and the catch-up pass bound their "now" untyped, so on
SQLite ``charge.created_at`` was stored as ``str(datetime)`` ("2026-09-30 16:00:00+00:00")
instead of the form every other instant has ("2026-09-30 16:00:00.000000"). Text comparison
then put a fee raised at exactly 00:00 on the 1st before the month's start: October's opening
balance owed October's fees (issue 13). PostgreSQL stores timestamptz and is unaffected.

Revision ID: 0202_charge_instants
Revises: 0201_charging
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0202_charge_instants"
down_revision = "0201_charging"
branch_labels = None
depends_on = None

#: "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00" → "YYYY-MM-DD HH:MM:SS.ffffff"
_FIX = """
UPDATE charge SET created_at = CASE
    WHEN length(created_at) = 25 THEN substr(created_at, 1, 19) || '.000000'
    ELSE substr(created_at, 1, 26) END
WHERE created_at LIKE '%+00:00'
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_FIX)


def downgrade() -> None:
    pass  # the rewritten form is the correct one; nothing to undo
