"""supervision: cases with their timeline, officers and evidence; ladder decisions; manual calls

The inbox reads a scope's units, a state and a deadline: (unit_id, state, due_at); the overdue
sweep reads (state, due_at); the ladder counts substantiated cases of a period by
substantiated_at and officer (case_officers.officer_id).

Revision ID: 0006b
Revises: 0006
Create Date: 2026-12-03 01:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006b"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ladder_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
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
        sa.UniqueConstraint(
            "officer_id",
            "subject",
            "period",
            "step",
            name=op.f("uq_ladder_decisions_officer_id_subject_period_step"),
        ),
    )
    op.create_index(
        op.f("ix_ladder_decisions_officer_id"), "ladder_decisions", ["officer_id"], unique=False
    )
    op.create_table(
        "manual_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("reason_key", sa.String(length=4), nullable=True),
        sa.Column("rating", sa.String(length=24), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callback_tasks.id"],
            name=op.f("fk_manual_calls_callback_id_callback_tasks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_calls")),
    )
    op.create_index(
        op.f("ix_manual_calls_callback_id"), "manual_calls", ["callback_id"], unique=False
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("event_unit_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("substantiated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.Column("reason_key", sa.String(length=4), nullable=True),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("complaint", sa.Text(), nullable=True),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.Column("unsubstantiated_reason", sa.Text(), nullable=True),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("returns", sa.Integer(), nullable=False),
        sa.Column("outcome_sms_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["service_events.id"], name=op.f("fk_cases_event_id_service_events")
        ),
        sa.ForeignKeyConstraint(
            ["event_unit_id"], ["units.id"], name=op.f("fk_cases_event_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["outcome_sms_id"],
            ["outbound_messages.id"],
            name=op.f("fk_cases_outcome_sms_id_outbound_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_cases_recording_id_recordings")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_cases_survey_id_surveys")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_cases_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("survey_id", name=op.f("uq_cases_survey_id")),
    )
    op.create_index(op.f("ix_cases_event_id"), "cases", ["event_id"], unique=False)
    op.create_index(op.f("ix_cases_event_unit_id"), "cases", ["event_unit_id"], unique=False)
    op.create_index(op.f("ix_cases_opened_at"), "cases", ["opened_at"], unique=False)
    op.create_index(op.f("ix_cases_state_due_at"), "cases", ["state", "due_at"], unique=False)
    op.create_index(op.f("ix_cases_substantiated_at"), "cases", ["substantiated_at"], unique=False)
    op.create_index(
        op.f("ix_cases_unit_id_state_due_at"), "cases", ["unit_id", "state", "due_at"], unique=False
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(
        op.f("ix_case_events_case_id_id"), "case_events", ["case_id", "id"], unique=False
    )
    op.create_table(
        "case_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_evidence_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_evidence")),
        sa.UniqueConstraint("case_id", "sha256", name=op.f("uq_case_evidence_case_id_sha256")),
    )
    op.create_index(op.f("ix_case_evidence_case_id"), "case_evidence", ["case_id"], unique=False)
    op.create_table(
        "case_officers",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_officers_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_case_officers_officer_id_officers")
        ),
        sa.PrimaryKeyConstraint("case_id", "officer_id", name=op.f("pk_case_officers")),
    )
    op.create_index(
        op.f("ix_case_officers_officer_id"), "case_officers", ["officer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_case_officers_officer_id"), table_name="case_officers")
    op.drop_table("case_officers")
    op.drop_index(op.f("ix_case_evidence_case_id"), table_name="case_evidence")
    op.drop_table("case_evidence")
    op.drop_index(op.f("ix_case_events_case_id_id"), table_name="case_events")
    op.drop_table("case_events")
    op.drop_index(op.f("ix_cases_unit_id_state_due_at"), table_name="cases")
    op.drop_index(op.f("ix_cases_substantiated_at"), table_name="cases")
    op.drop_index(op.f("ix_cases_state_due_at"), table_name="cases")
    op.drop_index(op.f("ix_cases_opened_at"), table_name="cases")
    op.drop_index(op.f("ix_cases_event_unit_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_event_id"), table_name="cases")
    op.drop_table("cases")
    op.drop_index(op.f("ix_manual_calls_callback_id"), table_name="manual_calls")
    op.drop_table("manual_calls")
    op.drop_index(op.f("ix_ladder_decisions_officer_id"), table_name="ladder_decisions")
    op.drop_table("ladder_decisions")
