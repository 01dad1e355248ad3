"""PostgreSQL plans every batch statement with its own parameter values.

psycopg prepares a statement after its fifth execution; PostgreSQL may then use a generic
plan, made without the values. For statements that bind a whole batch as one array that plan
guesses ten elements, and on a table without statistics it chose a nested loop over a
sequential scan: quadratic in the table size (1.5 s for one batch at 15,000 rows, measured).
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.db import make_engine
from storage.models import Base
from storage.sms_store import _PARTS_AND_SIBLINGS_PG, _parts_and_siblings


def test_engines_plan_each_execution_with_its_values(pg_url):
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        engine.dispose()


def test_engine_keeps_options_given_by_the_caller(pg_url):
    engine = make_engine(pg_url, connect_args={"options": "-c statement_timeout=1234"})
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SHOW statement_timeout")) == "1234ms"
            assert conn.scalar(sa.text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        engine.dispose()


def _plan(conn: sa.Connection, sql: str, params: dict) -> str:
    return "\n".join(conn.execute(sa.text("EXPLAIN " + sql), params).scalars())


def test_receipt_part_lookup_never_loops_over_a_sequential_scan(pg_url):
    """The lookup, run many times as a prepared statement on a table without statistics,
    keeps a plan whose cost grows with the batch, not with the batch times the table."""
    engine = make_engine(pg_url)
    try:
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO outbound_messages (id, kind, destination, text, status,"
                    " attempts, parts_count, created_at, updated_at)"
                    " SELECT g, 'survey', '13812345678', 'x', 'sent', 0, 1, now(), now()"
                    " FROM generate_series(1, 3000) g"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO sms_parts (outbound_id, part_number, parts_total, attempt,"
                    " message_id, message_key, status)"
                    " SELECT g, 1, 1, 1, 'm' || g, 'm' || g, 'submitted'"
                    " FROM generate_series(1, 3000) g"
                )
            )
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            for start in range(1, 3000, 300):  # more runs than psycopg's prepare threshold
                keys = [f"m{g}" for g in range(start, start + 300)]
                rows = _parts_and_siblings(session, keys)
                assert sorted(r.outbound_id for r in rows) == list(range(start, start + 300))
            plan = _plan(
                session.connection(),
                str(_PARTS_AND_SIBLINGS_PG),  # the statement the store runs
                {"keys": "\x1f".join(f"m{g}" for g in range(1, 1001))},
            )
        assert "Materialize" not in plan, plan
    finally:
        engine.dispose()


def test_closing_reply_windows_reads_a_range_of_status_and_expiry(pg_url):
    """expire_surveys' statement reads a range of the (status, expires_at) index: the surveys
    due, not every sent and delivered survey."""
    from datetime import UTC, datetime

    from sqlalchemy.dialects import postgresql

    from storage import models as m

    engine = make_engine(pg_url)
    try:
        Base.metadata.create_all(engine)
        statement = (
            sa.update(m.Survey)
            .where(
                m.Survey.status.in_(("sent", "delivered")),
                m.Survey.expires_at <= datetime.now(UTC),
            )
            .values(status="expired")
        )
        sql = str(
            statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        )
        with engine.connect() as conn:
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(conn.execute(sa.text("EXPLAIN " + sql)).scalars())
        assert "ix_surveys_status_expires_at" in plan
        assert "Index Cond" in plan and "expires_at <=" in plan
    finally:
        engine.dispose()
