"""reports: surveys carry their event's time; 约谈 records, assessment adjustments, the archive

Reports count surveys by when their event occurred. Reading that time through a join with
``service_events`` costs a second scan per report; the survey carries a copy (written at intake,
backfilled here) and an index on (occurred_at, unit_id, rating) that includes the sent,
delivered and replied times on PostgreSQL, so the monthly ranking is an index-only scan.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE surveys SET occurred_at = "
        "(SELECT service_events.occurred_at FROM service_events "
        "WHERE service_events.id = surveys.event_id)"
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_surveys_occurred_at_unit_id_rating"),
            ["occurred_at", "unit_id", "rating"],
            unique=False,
            postgresql_include=["id", "sent_at", "delivered_at", "replied_at"],
        )
    op.create_table(
        "interviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("interviewees", sa.JSON(), nullable=False),
        sa.Column("deduction", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interviews")),
        sa.UniqueConstraint(
            "unit_code", "month", "kind", name=op.f("uq_interviews_unit_code_month_kind")
        ),
    )
    op.create_index(op.f("ix_interviews_month"), "interviews", ["month"], unique=False)
    op.create_table(
        "assessment_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("interview_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interviews.id"],
            name=op.f("fk_assessment_adjustments_interview_id_interviews"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_adjustments")),
    )
    op.create_index(
        op.f("ix_assessment_adjustments_year_unit_code"),
        "assessment_adjustments",
        ["year", "unit_code"],
        unique=False,
    )
    op.create_table(
        "report_archive",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("period_key", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("delivered_to", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_archive")),
    )
    op.create_index(
        op.f("ix_report_archive_kind_period_key"),
        "report_archive",
        ["kind", "period_key"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_report_archive_kind_period_key"), table_name="report_archive")
    op.drop_table("report_archive")
    op.drop_index(
        op.f("ix_assessment_adjustments_year_unit_code"), table_name="assessment_adjustments"
    )
    op.drop_table("assessment_adjustments")
    op.drop_index(op.f("ix_interviews_month"), table_name="interviews")
    op.drop_table("interviews")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_occurred_at_unit_id_rating"))
        batch_op.drop_column("occurred_at")
