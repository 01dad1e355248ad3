"""reply deliver_sm ledger for telling SMSC redeliveries from repeats: inbound_deliveries

Revision ID: 0011
Revises: 0006c
Create Date: 2026-12-03 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0006c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("source_addr", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("link", sa.String(length=160), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_deliveries")),
    )
    op.create_index(
        op.f("ix_inbound_deliveries_source_addr_fingerprint"),
        "inbound_deliveries",
        ["source_addr", "fingerprint"],
    )
    op.create_index(
        op.f("ix_inbound_deliveries_received_at"), "inbound_deliveries", ["received_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_deliveries_received_at"), table_name="inbound_deliveries")
    op.drop_index(
        op.f("ix_inbound_deliveries_source_addr_fingerprint"), table_name="inbound_deliveries"
    )
    op.drop_table("inbound_deliveries")
