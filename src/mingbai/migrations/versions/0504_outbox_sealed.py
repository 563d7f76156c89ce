"""Outbox: one-time codes no longer rest in clear (issue 12)

Code-bearing rows (order confirmation requests, console sign-in codes) are written sealed from
now on and redacted once they no longer travel (``mingbai.sealing``). This revision adds the
partial index the redaction pass reads (rows whose text is still sealed) and redacts every code
already stored in clear; those not yet sent are not sent any more (status expired): their
subscribers order again or ask for a new code.

Revision ID: 0504_outbox_sealed
Revises: 0503_outbox_keys
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0504_outbox_sealed"
down_revision = "0503_outbox_keys"
branch_labels = None
depends_on = None

SEALED = "text LIKE 'sealed:%'"
REDACTED = "[含验证码的短信,内容已清除]"
CODE_KINDS = "kind IN ('confirmation_request', 'login_code')"


def upgrade() -> None:
    op.create_index(
        "ix_sms_outbox_sealed",
        "sms_outbox",
        ["created_at"],
        postgresql_where=sa.text(SEALED),
        sqlite_where=sa.text(SEALED),
    )
    clear = f"{CODE_KINDS} AND NOT ({SEALED}) AND text <> :redacted"
    op.execute(
        sa.text(
            f"UPDATE sms_outbox SET status = 'expired', error = 'code_expired' "
            f"WHERE {clear} AND status IN ('queued', 'in_doubt')"
        ).bindparams(redacted=REDACTED)
    )
    op.execute(sa.text(f"UPDATE sms_outbox SET text = :redacted WHERE {clear}").bindparams(redacted=REDACTED))


def downgrade() -> None:
    # redacted texts stay redacted: the codes are gone, as they should be
    op.drop_index("ix_sms_outbox_sealed", table_name="sms_outbox")
