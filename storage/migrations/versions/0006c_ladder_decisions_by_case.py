"""ladder decisions keyed by the case that triggered the proposal, not by period and step

A decision was keyed by (officer, subject, period, step); with a rolling period ([cases]
ladder_period = N days) the label and the step of one proposal change from day to day, so a
decided proposal would come back undecided. It is now keyed by (officer, subject, case_id),
which does not move. No code wrote ladder_decisions before this revision (the ladder came with
it), so the table is recreated rather than altered.

Revision ID: 0006c
Revises: 0010b
Create Date: 2026-12-03 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006c"
down_revision = "0010b"
branch_labels = None
depends_on = None


def _create(by_case: bool) -> None:
    columns = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
    ]
    if by_case:
        columns.append(sa.Column("case_id", sa.Integer(), nullable=False))
    columns += [
        sa.Column("about_officer_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=24), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("proposed", sa.String(length=24), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("measure", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("case_ids", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["about_officer_id"],
            ["officers.id"],
            name=op.f("fk_ladder_decisions_about_officer_id_officers"),
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_ladder_decisions_officer_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_ladder_decisions_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ladder_decisions")),
    ]
    if by_case:
        columns += [
            sa.ForeignKeyConstraint(
                ["case_id"], ["cases.id"], name=op.f("fk_ladder_decisions_case_id_cases")
            ),
            sa.UniqueConstraint(
                "officer_id",
                "subject",
                "case_id",
                name=op.f("uq_ladder_decisions_officer_id_subject_case_id"),
            ),
        ]
    else:
        columns.append(
            sa.UniqueConstraint(
                "officer_id",
                "subject",
                "period",
                "step",
                name=op.f("uq_ladder_decisions_officer_id_subject_period_step"),
            )
        )
    op.create_table("ladder_decisions", *columns)
    op.create_index(
        op.f("ix_ladder_decisions_officer_id"), "ladder_decisions", ["officer_id"], unique=False
    )


def _drop() -> None:
    op.drop_index(op.f("ix_ladder_decisions_officer_id"), table_name="ladder_decisions")
    op.drop_table("ladder_decisions")


def upgrade() -> None:
    _drop()
    _create(by_case=True)


def downgrade() -> None:
    _drop()
    _create(by_case=False)
