"""storage.sql.update_by_id sends each column of a batch as one joined string where its values
round-trip (``packed_column``), and stores exactly what a list parameter would, on PostgreSQL
and on SQLite; the wire mark's autocommit statement marks what the session's UPDATE did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
import pytest_twisted
import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.internet import reactor

from storage import models as m
from storage.db import Database
from storage.sms_store import SqlSmsStore
from storage.sql import NULL_MARK, SEP, packed_column, update_by_id

AT = datetime(2026, 11, 28, 8, 30, 15, 123456, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


def test_integers_strings_booleans_and_datetimes_are_joined_with_nulls_marked():
    assert packed_column([1, None, 3]) == f"1{SEP}{NULL_MARK}{SEP}3"
    assert packed_column(["满意", None]) == f"满意{SEP}{NULL_MARK}"
    assert packed_column([True, False, None]) == f"true{SEP}false{SEP}{NULL_MARK}"
    assert packed_column([AT, None]) == f"2026-11-28T08:30:15.123456+00:00{SEP}{NULL_MARK}"
    assert packed_column([None, None]) == f"{NULL_MARK}{SEP}{NULL_MARK}"


@pytest.mark.parametrize(
    "values",
    [
        ["a", f"b{SEP}c"],  # the separator inside a value
        ["a", f"b{NULL_MARK}"],  # the null mark inside a value
        ["a", ""],  # an empty string (string_to_array would drop it)
        [datetime(2026, 1, 1), AT],  # naive: no offset to send
        [1, "1"],  # two types
        [1.5, 2.5],  # a type it does not know
    ],
)
def test_values_that_cannot_round_trip_are_left_to_the_driver(values):
    assert packed_column(values) is None


@pytest.fixture
def outbound(engine):
    """Five outbound rows to update."""
    with Session(engine) as session, session.begin():
        for i in range(1, 6):
            session.add(
                m.OutboundMessage(
                    id=i, kind="survey", destination="13812345678", text="评价", status="queued",
                    error="old", wire_at=AT, next_attempt_at=AT,
                )
            )  # fmt: skip


@pytest.mark.usefixtures("outbound")
def test_update_by_id_stores_every_value_as_given(engine):
    """Chinese text, the separators in a value, NULLs, an empty string and datetimes in
    other zones, in columns whose values differ (sent packed or as lists) or are all equal."""
    rows = [
        {"id": 1, "status": "submitted", "error": None, "wire_at": AT.astimezone(SHANGHAI)},
        {"id": 2, "status": "failed", "error": "号码无效", "wire_at": None},
        {"id": 3, "status": "failed", "error": f"a{SEP}b", "wire_at": AT + timedelta(seconds=1)},
        {"id": 4, "status": "unknown", "error": "", "wire_at": AT},
        {"id": 5, "status": "unknown", "error": None, "wire_at": None},
    ]
    with Session(engine) as session, session.begin():
        update_by_id(session, m.OutboundMessage, rows)
        update_by_id(session, m.OutboundMessage, [{"id": i, "attempts": 7} for i in (1, 2)])
    o = m.OutboundMessage
    with Session(engine) as session:
        got = session.execute(
            sa.select(o.id, o.status, o.error, o.wire_at, o.attempts).order_by(o.id)
        ).all()
    assert [tuple(r) for r in got] == [
        (1, "submitted", None, AT, 7),
        (2, "failed", "号码无效", None, 7),
        (3, "failed", f"a{SEP}b", AT + timedelta(seconds=1), 0),
        (4, "unknown", "", AT, 0),
        (5, "unknown", None, None, 0),
    ]


@pytest.fixture
def pg_db(pg_url):
    database = Database(pg_url, reactor=reactor, threads=1)
    m.Base.metadata.create_all(database.engine)
    with database.sessions.begin() as s:
        for i, (status, wired) in enumerate(
            [("submitting", None), ("submitting", AT), ("queued", None), ("submitting", None)],
            start=1,
        ):
            s.add(
                m.OutboundMessage(
                    id=i, kind="survey", destination="13812345678", text="评价", status=status,
                    wire_at=wired, next_attempt_at=AT,
                )
            )  # fmt: skip
    yield database
    database.stop()


def wire_at(db: Database) -> dict[int, datetime | None]:
    with db.sessions() as s:
        return dict(s.execute(sa.select(m.OutboundMessage.id, m.OutboundMessage.wire_at)).all())


@pytest_twisted.inlineCallbacks
def test_a_mark_by_autocommit_statement_stamps_only_claimed_unmarked_sms(pg_db):
    later = AT + timedelta(minutes=1)
    yield SqlSmsStore(pg_db).mark_wired([1, 2, 3], later)
    # committed at once (another session sees it); the first mark kept; a queued SMS untouched
    assert wire_at(pg_db) == {1: later, 2: AT, 3: None, 4: None}


@pytest_twisted.inlineCallbacks
def test_a_mark_on_a_dropped_connection_fails_and_the_next_reconnects(pg_db):
    store = SqlSmsStore(pg_db)
    yield store.mark_wired([1], AT)
    with pg_db.engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE 'UPDATE outbound_messages SET wire_at%'"
            )
        )
    with pytest.raises(psycopg.OperationalError):
        yield store.mark_wired([4], AT)
    yield store.mark_wired([4], AT)
    assert wire_at(pg_db)[4] == AT
