"""cases: no index on event_id or event_unit_id (nothing reads by them), substantiated_at partial

Opening a case (one per unsatisfied reply, in the reply's transaction) wrote eight index
entries; no query looks cases up by event or by the event's unit, and a case opens with no
substantiated_at, so it needs no entry there until verified. Five entries now
(docs/benchmarks.md, eleventh round).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_SUBSTANTIATED = sa.text("substantiated_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index(op.f("ix_cases_event_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_event_unit_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_substantiated_at"), table_name="cases")
    op.create_index(
        op.f("ix_cases_substantiated_at"),
        "cases",
        ["substantiated_at"],
        postgresql_where=_SUBSTANTIATED,
        sqlite_where=_SUBSTANTIATED,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cases_substantiated_at"), table_name="cases")
    op.create_index(op.f("ix_cases_substantiated_at"), "cases", ["substantiated_at"])
    op.create_index(op.f("ix_cases_event_unit_id"), "cases", ["event_unit_id"])
    op.create_index(op.f("ix_cases_event_id"), "cases", ["event_id"])
