"""outbox claim index in claim order; receipt indexes only where they are read

The outbox claim reads ``status = 'queued' ... ORDER BY next_attempt_at, id LIMIT n``. With
the index on (status, next_attempt_at) PostgreSQL sorted every queued row for each claim (an
external merge sort on disk at 30,000 queued SMS, 30-45 ms a claim); with ``id`` in the index
the claim reads the first n entries.

Receipts are matched on the normalised ``message_key``; nothing looks rows up by the raw
``message_id`` the SMSC wrote, and its two indexes cost a B-tree insert for every part sent and
every receipt received. A stored receipt is looked up by key only while it matches no part (a
receipt that overtook its submit_sm_resp): the key index becomes partial, on those rows only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 06:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_messages_status_next_attempt_at"))
        batch_op.create_index(
            batch_op.f("ix_outbound_messages_status_next_attempt_at_id"),
            ["status", "next_attempt_at", "id"],
            unique=False,
        )
    with op.batch_alter_table("sms_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_parts_message_id"))
    with op.batch_alter_table("delivery_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_receipts_message_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_receipts_message_key"))
        batch_op.create_index(
            "ix_delivery_receipts_unmatched_key",
            ["message_key"],
            unique=False,
            postgresql_where=sa.text("sms_part_id IS NULL"),
            sqlite_where=sa.text("sms_part_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_receipts_unmatched_key")
        batch_op.create_index(
            batch_op.f("ix_delivery_receipts_message_key"), ["message_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_delivery_receipts_message_id"), ["message_id"], unique=False
        )
    with op.batch_alter_table("sms_parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_parts_message_id"), ["message_id"], unique=False)
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_messages_status_next_attempt_at_id"))
        batch_op.create_index(
            batch_op.f("ix_outbound_messages_status_next_attempt_at"),
            ["status", "next_attempt_at"],
            unique=False,
        )
