"""Outbox: index gateway_ref and tag only where they are set (partial indexes)

Both columns are NULL on most rows (gateway_ref until the row is submitted; tag outside
campaigns) and are only looked up by equality to a value (receipts by SMSC id, campaign progress
by tag), which a partial index ``WHERE … IS NOT NULL`` serves. Rows written with them NULL — every
deduction reminder of the monthly billing run — then no longer touch these two indexes.

Revision ID: 0502_outbox_partial
Revises: 0501_smpp
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0502_outbox_partial"
down_revision = "0501_smpp"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict[str, object]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index("ix_sms_outbox_tag", table_name="sms_outbox")
    op.drop_index("ix_sms_outbox_gateway_ref", table_name="sms_outbox")
    op.create_index("ix_sms_outbox_gateway_ref", "sms_outbox", ["gateway_ref"], **_where("gateway_ref IS NOT NULL"))
    op.create_index("ix_sms_outbox_tag", "sms_outbox", ["tag", "status"], **_where("tag IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_tag", table_name="sms_outbox")
    op.drop_index("ix_sms_outbox_gateway_ref", table_name="sms_outbox")
    op.create_index("ix_sms_outbox_gateway_ref", "sms_outbox", ["gateway_ref"])
    op.create_index("ix_sms_outbox_tag", "sms_outbox", ["tag", "status"])
