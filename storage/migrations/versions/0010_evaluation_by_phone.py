"""evaluation by phone: survey codes, how a rating arrived, calls to the evaluation line

``surveys.code``: the short code in the SMS a caller enters (indexed: the line looks it up);
``surveys.rated_via``: sms, phone or callback. ``phone_calls``: one row per call to the line;
``complaints``: what a caller with no survey left for the inspectorate.

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-03 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("rated_via", sa.String(length=8), nullable=True))
        batch_op.create_index(batch_op.f("ix_surveys_code"), ["code"], unique=False)

    op.create_table(
        "phone_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=20), nullable=True),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("found_by", sa.String(length=12), nullable=True),
        sa.Column("rating", sa.String(length=24), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("reason_key", sa.String(length=4), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.Column("call_attempt_id", sa.Integer(), nullable=True),
        sa.Column("ended_how", sa.String(length=16), nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_attempt_id"],
            ["call_attempts.id"],
            name=op.f("fk_phone_calls_call_attempt_id_call_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_phone_calls_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_calls")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_phone_calls_channel_id")),
    )
    with op.batch_alter_table("phone_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_calls_survey_id"), ["survey_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_phone_calls_caller_started_at"), ["caller", "started_at"], unique=False
        )

    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_call_id", sa.Integer(), nullable=False),
        sa.Column("caller", sa.String(length=20), nullable=True),
        sa.Column("category_key", sa.String(length=4), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("recording_path", sa.String(length=512), nullable=True),
        sa.Column("recording_seconds", sa.Double(), nullable=True),
        sa.Column("recording_bytes", sa.Integer(), nullable=True),
        sa.Column("recording_sha256", sa.String(length=64), nullable=True),
        sa.Column("recording_partial", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["phone_call_id"],
            ["phone_calls.id"],
            name=op.f("fk_complaints_phone_call_id_phone_calls"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("phone_call_id", name=op.f("uq_complaints_phone_call_id")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaints_status_created_at"), ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaints_status_created_at"))
    op.drop_table("complaints")
    with op.batch_alter_table("phone_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_calls_caller_started_at"))
        batch_op.drop_index(batch_op.f("ix_phone_calls_survey_id"))
    op.drop_table("phone_calls")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_code"))
        batch_op.drop_column("rated_via")
        batch_op.drop_column("code")
