"""The SQL store at a stop (SMS released to the outbox) and for outcomes written twice (the
first fact on a part attempt wins), on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
import sqlalchemy as sa
from psycopg.errors import UniqueViolation
from sqlalchemy.exc import IntegrityError
from twisted.internet import defer, reactor

from gateway.smpp.api import SubmitOutcome
from gateway.smpp.store import PartResult, ReceiptRecord
from storage.db import Database
from storage.models import Base, OutboundMessage, SmsPart
from storage.sms_store import SqlSmsStore, _Op, _run_batch

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
DUE = NOW - timedelta(minutes=5)


@pytest.fixture
def db(any_db_url):
    database = Database(any_db_url, reactor=reactor, threads=2)
    Base.metadata.create_all(database.engine)
    with database.sessions.begin() as s:
        for i in range(1, 6):  # claimed by gw-a, marked ahead of the wire
            s.add(
                OutboundMessage(
                    id=i,
                    kind="survey",
                    destination="13812345678",
                    text="评价",
                    status="submitting",
                    attempts=1,
                    claimed_by="gw-a",
                    wire_at=NOW,
                    next_attempt_at=DUE,
                )
            )
    yield database
    database.stop()


def part(oid: int, n: int = 1, attempt: int = 1, mid: str = "A1", status="submitted"):
    return PartResult(
        oid, n, 1, attempt, 10 + n, mid, mid.lower(), status, 0, None, NOW, NOW
    )  # fmt: skip


def outcome(oid: int, status="submitted", ids=("A1",)) -> SubmitOutcome:
    return SubmitOutcome(oid, status, ids, 1, None if status == "submitted" else "why")


def row(db: Database, oid: int) -> OutboundMessage:
    with db.sessions() as s:
        return s.get(OutboundMessage, oid)


def parts_of(db: Database, oid: int) -> list[tuple[int, int, str]]:
    with db.sessions() as s:
        q = sa.select(SmsPart.part_number, SmsPart.attempt, SmsPart.status).where(
            SmsPart.outbound_id == oid
        )
        return sorted(tuple(r) for r in s.execute(q))


# --- release at stop ---------------------------------------------------------------------


@pytest_twisted.inlineCallbacks
def test_released_sms_are_queued_again_in_their_place_unclaimed_and_unmarked(db):
    store = SqlSmsStore(db)
    n = yield store.release_unsent([2, 3], NOW)
    assert n == 2
    r = row(db, 2)
    assert (r.status, r.claimed_by, r.wire_at, r.attempts) == ("queued", None, None, 0)
    assert r.next_attempt_at.replace(tzinfo=UTC) == DUE  # its place in the queue kept
    assert row(db, 1).status == "submitting"  # not named: untouched


@pytest_twisted.inlineCallbacks
def test_an_sms_with_a_part_record_or_no_longer_claimed_is_never_released(db):
    store = SqlSmsStore(db)
    yield store.record_submission(outcome(1, "unknown", ()), [part(1, status="unknown")])
    with db.sessions.begin() as s:
        s.get(OutboundMessage, 2).status = "submitting"
        s.get(OutboundMessage, 3).status = "queued"
    n = yield store.release_unsent([1, 3], NOW)
    assert n == 0
    assert (row(db, 1).status, row(db, 1).claimed_by) == ("unknown", "gw-a")


@pytest_twisted.inlineCallbacks
def test_a_wire_mark_committed_after_the_release_does_not_stick(db):
    store = SqlSmsStore(db)
    with db.sessions.begin() as s:
        s.get(OutboundMessage, 4).wire_at = None
    yield store.release_unsent([4], NOW)
    yield store.mark_wired([4], NOW)
    assert (row(db, 4).status, row(db, 4).wire_at) == ("queued", None)


# --- the same part attempt written twice ---------------------------------------------------


def test_without_the_guard_a_repeated_part_attempt_is_refused(db):
    """What the fault run hit: the batch write refuses a second row for a part attempt."""
    ops = [_Op("submission", (outcome(1), (part(1, status="unknown"), part(1))))]
    refused = (IntegrityError, UniqueViolation)  # COPY on PostgreSQL: psycopg's own
    with pytest.raises(refused), db.sessions.begin() as s:
        _run_batch(s, ops)


@pytest_twisted.inlineCallbacks
def test_an_outcome_written_twice_is_stored_once_and_its_later_state_kept(db):
    store = SqlSmsStore(db)
    yield store.record_submission(outcome(1), [part(1)])
    receipt = ReceiptRecord("A1", "a1", "DELIVRD", "000", None, NOW, "13812345678", "x", NOW)
    yield store.record_receipt(receipt)
    assert row(db, 1).status == "delivered"
    updates = yield store.record_submission(outcome(1), [part(1)])  # e.g. a lost commit answer
    assert updates == []
    assert parts_of(db, 1) == [(1, 1, "submitted")]
    assert row(db, 1).status == "delivered"  # the first facts win, receipts included


@pytest_twisted.inlineCallbacks
def test_two_facts_on_one_part_attempt_in_one_batch_keep_the_first(db):
    store = SqlSmsStore(db)
    first = store.record_submission(outcome(2), [part(2, mid="B2")])
    second = store.record_submission(
        outcome(2, "unknown", ()), [replace(part(2, mid="B2"), status="unknown")]
    )
    third = store.record_submission(outcome(3, ids=("C3",)), [part(3, mid="C3")])
    yield defer.gatherResults([first, second, third])  # none fails, none loops
    assert parts_of(db, 2) == [(1, 1, "submitted")]
    assert parts_of(db, 3) == [(1, 1, "submitted")]  # the rest of the batch is written


@pytest_twisted.inlineCallbacks
def test_a_write_with_one_new_attempt_stores_the_new_one(db):
    store = SqlSmsStore(db)
    yield store.record_submission(outcome(3, "unknown", ()), [part(3, status="unacked")])
    again = [part(3, status="unacked"), part(3, attempt=2, mid="C2")]
    yield store.record_submission(outcome(3, ids=("C2",)), again)
    assert parts_of(db, 3) == [(1, 1, "unacked"), (1, 2, "submitted")]
    assert row(db, 3).status == "submitted"
