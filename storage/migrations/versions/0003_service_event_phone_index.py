"""index service events by citizen phone

Event intake reads, for each batch, the earlier events of the batch's phones around the batch's
times (the duplicate-contact check); without this index that is a sequential scan of
service_events for every batch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 06:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_events_citizen_phone_occurred_at"),
            ["citizen_phone", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("service_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_events_citizen_phone_occurred_at"))
