"""accounts: real-name data sealed at rest, its masked forms kept beside it (issue 16, R13)

``subscriber_profile.name`` and ``id_number`` now hold AES-GCM sealed texts (mingbai.sealing);
``name_masked`` and ``id_masked`` hold what every screen shows. Rows already there are sealed
with the platform's current key (MINGBAI_SECRET_KEYS or the key file), as the application would.

Revision ID: 0604_profile_sealed
Revises: 0602_sign_in_guard
Create Date: 2026-12-05 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0604_profile_sealed"
down_revision = "0602_sign_in_guard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber_profile", schema=None) as batch_op:
        batch_op.alter_column("name", type_=sa.String(length=255), existing_type=sa.String(length=64))
        batch_op.alter_column("id_number", type_=sa.String(length=255), existing_type=sa.String(length=32))
        batch_op.add_column(sa.Column("name_masked", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("id_masked", sa.String(length=32), nullable=False, server_default=""))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT msisdn, name, id_number FROM subscriber_profile WHERE name NOT LIKE 'sealed:%'")
    ).all()
    if rows:
        from mingbai.accounts.rules import mask_id_number, mask_name
        from mingbai.config import Settings

        sealer = Settings.from_env().sealer
        bind.execute(
            sa.text(
                "UPDATE subscriber_profile SET name = :name, id_number = :id_number, "
                "name_masked = :name_masked, id_masked = :id_masked WHERE msisdn = :msisdn"
            ),
            [
                {
                    "msisdn": r.msisdn,
                    "name": sealer.seal(r.name),
                    "id_number": sealer.seal(r.id_number),
                    "name_masked": mask_name(r.name),
                    "id_masked": mask_id_number(r.id_number),
                }
                for r in rows
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriber_profile", schema=None) as batch_op:
        batch_op.drop_column("id_masked")
        batch_op.drop_column("name_masked")
