"""index the open surveys by the end of their reply window

``expire_surveys`` runs with every outbox drain: ``status IN ('sent', 'delivered') AND
expires_at <= now``. The only index it could use was (status, scheduled_at), which holds every
sent and delivered survey: 20 ms a drain at 100,000 surveys, growing with the table. A partial
index on ``expires_at`` over the open surveys reads only the ones due (0.06 ms).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = "status IN ('sent', 'delivered')"


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index(
            "ix_surveys_open_expires_at",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index("ix_surveys_open_expires_at")
