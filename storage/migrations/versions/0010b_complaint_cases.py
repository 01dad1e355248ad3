"""complaints left on the evaluation line open a supervision case: complaints.case_id

Revision ID: 0010b
Revises: 0010
Create Date: 2026-12-03 02:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010b"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_complaints_case_id_cases"), "cases", ["case_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_complaints_case_id_cases"), type_="foreignkey")
        batch_op.drop_column("case_id")
