"""Outbox: the send-once index holds only keyed rows; the status index only rows past queued

``uq_sms_outbox_dedupe`` becomes partial (``WHERE dedupe_key IS NOT NULL``). A row without a key
(a reply, a receipt) had an entry there that no lookup could ever find. A deduction reminder is
sent once by its primary key instead: its outbox id is its charge's id, so a second reminder for
a charge is a duplicate (msisdn, id). Reminders written from now on carry no dedupe key; the
ones already written keep ``charge:<id>``, which is still true and still unique.

``ix_sms_outbox_status_created`` leaves out queued rows (``WHERE status <> 'queued'``). The only
reader of queued rows by age, the operators' "oldest open row", now takes the queued row longest
due from ``ix_sms_outbox_due``, which holds every queued row anyway.

Together, a deduction reminder written by the billing run updates two outbox indexes instead of
four (docs/PERFORMANCE.md, issue 4).

Revision ID: 0503_outbox_keys
Revises: 0502_outbox_partial
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0503_outbox_keys"
down_revision = "0502_outbox_partial"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict[str, object]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index("uq_sms_outbox_dedupe", table_name="sms_outbox")
    op.create_index(
        "uq_sms_outbox_dedupe", "sms_outbox", ["msisdn", "dedupe_key"], unique=True, **_where("dedupe_key IS NOT NULL")
    )
    op.drop_index("ix_sms_outbox_status_created", table_name="sms_outbox")
    op.create_index(
        "ix_sms_outbox_status_created", "sms_outbox", ["status", "created_at"], **_where("status <> 'queued'")
    )


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_status_created", table_name="sms_outbox")
    op.create_index("ix_sms_outbox_status_created", "sms_outbox", ["status", "created_at"])
    # reminders written without a key get theirs back, so the full index keeps them sent once
    op.execute(
        "UPDATE sms_outbox SET dedupe_key = 'charge:' || CAST(id AS VARCHAR(20)) "
        "WHERE kind = 'charge_reminder' AND dedupe_key IS NULL"
    )
    op.drop_index("uq_sms_outbox_dedupe", table_name="sms_outbox")
    op.create_index("uq_sms_outbox_dedupe", "sms_outbox", ["msisdn", "dedupe_key"], unique=True)
