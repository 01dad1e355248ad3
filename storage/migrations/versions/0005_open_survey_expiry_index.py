"""index surveys by status and end of reply window, not by status and scheduled time

``expire_surveys`` runs with every outbox drain: ``status IN ('sent', 'delivered') AND
expires_at <= now``. The only index it could use was (status, scheduled_at), which holds every
sent and delivered survey: 20 ms a drain at 100,000 surveys, growing with the table. With
(status, expires_at) it reads only the surveys due (0.06 ms), and so does the search for expired
surveys to call back. Nothing reads surveys by (status, scheduled_at): that index goes, so each
survey written still updates the same number of indexes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_status_scheduled_at"))
        batch_op.create_index(
            batch_op.f("ix_surveys_status_expires_at"), ["status", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_status_expires_at"))
        batch_op.create_index(
            batch_op.f("ix_surveys_status_scheduled_at"), ["status", "scheduled_at"], unique=False
        )
