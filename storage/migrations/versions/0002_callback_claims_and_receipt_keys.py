"""callback claims and receipt matching keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:05:29.729469
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("delivery_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_key", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_delivery_receipts_message_key"), ["message_key"], unique=False
        )

    with op.batch_alter_table("sms_parts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_key", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_sms_parts_message_key"), ["message_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sms_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_parts_message_key"))
        batch_op.drop_column("message_key")

    with op.batch_alter_table("delivery_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_receipts_message_key"))
        batch_op.drop_column("message_key")

    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_column("claim_expires_at")
        batch_op.drop_column("claimed_by")
