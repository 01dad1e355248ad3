"""outbox rows say which process claimed them and when their first bytes went to the SMSC

``claimed_by`` names the gateway process (its configured instance) that claimed a queued SMS;
``wire_at`` is committed just before the first submit_sm of the SMS is written to the SMSC
link. At start-up a process settles only its own interrupted claims: one without ``wire_at``
never reached the wire and is queued again, one with it may have gone and ends ``unknown``.

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-03 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("wire_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("wire_at")
        batch_op.drop_column("claimed_by")
