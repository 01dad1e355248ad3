"""Writing a batch of events: ids, links and reply addresses, and the conflicts with other doors.

On PostgreSQL the batch is written with COPY after taking its ids from the sequences; on SQLite
with multi-row INSERTs. Both must store the same rows, and a unique violation (the same
``event_id`` stored meanwhile by another door) must end as ``duplicate`` for that event only.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.task import Clock

from gateway.events.schema import validate_event
from gateway.surveys.intake import EventIntake
from storage import events_store
from storage import models as m
from storage.events_store import SqlEventStore, store_events
from tests.surveys.support import NOW, event_data, make_db


@pytest.fixture
def pg_db(pg_url):
    database = make_db(pg_url)
    try:
        yield database
    finally:
        database.stop()


@pytest.fixture
def sub_numbers(settings):
    return replace(settings, sub_number_prefix="106900", sub_number_digits=4)


def clock_at(moment):
    clock = Clock()
    clock.advance(moment.timestamp())
    return clock


def events(*changes):
    return [validate_event(event_data(**c), now=NOW) for c in changes]


def store(db, settings, batch, source="file"):
    return db.run_sync(store_events, batch, source=source, settings=settings, now=NOW)


def stored(db):
    """Every event with its officers, survey and queued SMS, keyed by event_id."""

    def read(session):
        out = {}
        for event in session.scalars(sa.select(m.ServiceEvent)):
            survey = session.scalars(sa.select(m.Survey).where(m.Survey.event_id == event.id)).one()
            sms = session.scalars(
                sa.select(m.OutboundMessage).where(m.OutboundMessage.survey_id == survey.id)
            ).all()
            out[event.event_id] = (
                event,
                sorted(o.police_number for o in event.officers),
                survey,
                list(sms),
            )
        return out

    return db.run_sync(read)


def count(db, model):
    return db.run_sync(lambda s: s.scalar(sa.select(sa.func.count()).select_from(model)))


def test_mixed_batch_stores_ids_links_and_reply_addresses(db, sub_numbers):
    """Selected, not selected, duplicate and rejected events in one batch: each gets its own
    rows, linked by id, and a selected survey's SMS comes from its event's sub-number."""
    store(db, sub_numbers, events({"event_id": "E-0", "citizen_phone": "13900000000"}))
    batch = events(
        {"event_id": "E-1", "officer_ids": ["P001", "P002"], "tags": ["arrest"]},
        {"event_id": "E-2", "citizen_phone": "13800000002", "tags": ["juvenile"]},
        {"event_id": "E-3", "unit_code": "999"},
        {"event_id": "E-0", "citizen_phone": "13800000004"},
        {"event_id": "E-1", "citizen_phone": "13800000005"},
        {
            "event_id": "E-6",
            "citizen_phone": "13800000006",
            "unit_code": "330103001",
            "officer_ids": ["P100"],
        },
        {"event_id": "E-7", "citizen_phone": "0571-87654321"},
        {"event_id": "E-8", "officer_ids": ["P404"]},
    )
    results = store(db, sub_numbers, batch)

    assert [(r.event_id, r.status, r.decision) for r in results] == [
        ("E-1", "accepted", "selected"),
        ("E-2", "accepted", "sensitive_category"),
        ("E-3", "rejected", None),
        ("E-0", "duplicate", None),
        ("E-1", "duplicate", None),
        ("E-6", "accepted", "selected"),
        ("E-7", "accepted", "not_mobile"),
        ("E-8", "rejected", None),
    ]
    rows = stored(db)
    assert sorted(rows) == ["E-0", "E-1", "E-2", "E-6", "E-7"]
    event_pks = [rows[k][0].id for k in rows]
    assert len(set(event_pks)) == len(event_pks)
    for result in results:
        if result.status == "accepted":
            assert rows[result.event_id][2].id == result.survey_id
    event, officers, survey, sms = rows["E-1"]
    assert (officers, event.tags, event.source) == (["P001", "P002"], ["arrest"], "file")
    assert (event.citizen_phone, event.citizen_phone_raw) == ("13812345678", "13812345678")
    assert event.occurred_at == batch[0].occurred_at and event.received_at == NOW
    assert (survey.status, survey.phone, survey.unit_id) == (
        "pending",
        "13812345678",
        event.unit_id,
    )
    assert survey.reply_address == sub_numbers.reply_address(event.id)
    assert survey.clarification_sent is False and survey.created_at == NOW
    [message] = sms
    assert (message.kind, message.status, message.attempts) == ("survey", "queued", 0)
    assert (message.destination, message.source_addr) == ("13812345678", survey.reply_address)
    assert message.next_attempt_at == survey.scheduled_at and message.parts_count >= 1
    assert "城关派出所" in message.text
    event6, officers6, survey6, [message6] = rows["E-6"]
    assert officers6 == ["P100"] and event6.unit_id != event.unit_id
    assert survey6.reply_address == sub_numbers.reply_address(event6.id)
    assert message6.source_addr == survey6.reply_address and "湖滨派出所" in message6.text
    for key in ("E-2", "E-7"):
        event, _, survey, sms = rows[key]
        assert (survey.status, survey.reply_address, sms) == ("not_selected", None, [])
    assert rows["E-7"][0].citizen_phone is None
    assert rows["E-0"][0].citizen_phone == "13900000000"  # the duplicate changed nothing
    assert count(db, m.event_officers) == 1 + 2 + 1 + 1 + 1


def test_rows_written_later_by_other_code_get_fresh_ids(db, settings):
    """The batch takes its ids from the tables' own sequences, so an ordinary INSERT made
    afterwards (an operator tool, the ORM) does not collide with them."""
    [first] = store(db, settings, events({"event_id": "E-1"}))

    def add_by_orm(session):
        event = session.scalars(sa.select(m.ServiceEvent)).one()
        again = m.ServiceEvent(
            event_id="E-ORM",
            category="window",
            unit_id=event.unit_id,
            occurred_at=NOW,
            source="demo",
        )
        session.add(again)
        session.flush()
        survey = m.Survey(
            event_id=again.id,
            unit_id=event.unit_id,
            category="window",
            decision="not_mobile",
            status="not_selected",
        )
        session.add(survey)
        session.flush()
        return event.id, again.id, survey.id

    event_pk, orm_event_pk, orm_survey_pk = db.run_sync(add_by_orm)
    assert orm_event_pk > event_pk and orm_survey_pk > first.survey_id
    [second] = store(db, settings, events({"event_id": "E-2", "citizen_phone": "13800000002"}))
    assert second.survey_id > orm_survey_pk


def test_ids_of_a_rolled_back_batch_are_not_reused(pg_db, settings):
    """A failed batch leaves its reserved ids unused; the next batch takes new ones."""

    def failing(session):
        store_events(
            session, events({"event_id": "E-1"}), source="file", settings=settings, now=NOW
        )
        raise RuntimeError("rolled back after the COPY")

    with pytest.raises(RuntimeError):
        pg_db.run_sync(failing)
    assert count(pg_db, m.ServiceEvent) == 0
    [result] = store(pg_db, settings, events({"event_id": "E-1"}))
    assert result.status == "accepted" and result.survey_id > 1


class AnotherDoor:
    """Stores ``event_id`` in its own committed transaction right after the intake batch read
    its facts, and before it writes: the window in which two doors race for one event."""

    def __init__(self, db, settings, event_id, monkeypatch, *, times=1):
        self.db, self.settings, self.event_id, self.left = db, settings, event_id, times
        self.batches: list[list[str]] = []
        original = events_store._load_facts

        def load_facts(session, batch, settings):
            facts = original(session, batch, settings)
            ids = [e.event_id for e in batch]
            if self.left and event_id in ids:
                self.left -= 1
                self.store()
            self.batches.append(ids)  # the intake's batches, after the door's own
            return facts

        monkeypatch.setattr(events_store, "_load_facts", load_facts)

    def store(self):
        [event] = events({"event_id": self.event_id, "citizen_phone": "13700000000"})
        self.db.run_sync(store_events, [event], source="http", settings=self.settings, now=NOW)


def bodies(*ids):
    return [
        json.dumps(event_data(event_id=i, citizen_phone=f"1380000{n:04d}")).encode()
        for n, i in enumerate(ids)
    ]


@pytest_twisted.inlineCallbacks
def test_batch_hit_by_another_door_retries_one_by_one_and_the_loser_is_duplicate(
    pg_db, settings, monkeypatch
):
    """The COPY of a group-committed batch fails on the unique event_id another door stored
    meanwhile: the whole batch rolls back, its events are retried one by one, the raced one
    ends as ``duplicate`` and the others are stored once."""
    door = AnotherDoor(pg_db, settings, "E-RACE", monkeypatch)
    intake = EventIntake(
        pg_db, settings, store=SqlEventStore(), clock=clock_at(NOW), max_concurrent_batches=1
    )
    results = yield defer.gatherResults(
        [intake.ingest_body(b, "amqp") for b in bodies("E-0", "E-1", "E-RACE", "E-3")]
    )

    assert [(r.event_id, r.status) for r in results] == [
        ("E-0", "accepted"),
        ("E-1", "accepted"),
        ("E-RACE", "duplicate"),
        ("E-3", "accepted"),
    ]
    assert door.batches == [
        ["E-0"],
        ["E-RACE"],  # the other door's own transaction
        ["E-1", "E-RACE", "E-3"],
        ["E-1"],
        ["E-RACE"],
        ["E-3"],
    ]
    rows = stored(pg_db)
    assert sorted(rows) == ["E-0", "E-1", "E-3", "E-RACE"]
    race_event, _, _, race_sms = rows["E-RACE"]
    assert (race_event.source, race_event.citizen_phone) == ("http", "13700000000")
    assert [s.destination for s in race_sms] == ["13700000000"]
    assert count(pg_db, m.Survey) == 4 and count(pg_db, m.OutboundMessage) == 4
    assert count(pg_db, m.event_officers) == 4


@pytest_twisted.inlineCallbacks
def test_single_event_raced_by_another_door_is_duplicate(pg_db, settings, monkeypatch):
    """A batch of one that loses the race (unique violation in the COPY) is answered
    ``duplicate`` after checking the winner's row, not retried or failed."""
    AnotherDoor(pg_db, settings, "E-RACE", monkeypatch)
    intake = EventIntake(pg_db, settings, store=SqlEventStore(), clock=clock_at(NOW))
    [body] = bodies("E-RACE")
    result = yield intake.ingest_body(body, "amqp")
    assert (result.event_id, result.status) == ("E-RACE", "duplicate")
    assert count(pg_db, m.ServiceEvent) == 1 and count(pg_db, m.Survey) == 1


@pytest_twisted.inlineCallbacks
def test_http_batch_raced_by_another_door_keeps_the_others(pg_db, settings, monkeypatch):
    """The HTTP door stores its batch in one transaction; after the unique violation each event
    is stored alone and only the raced one is a duplicate."""
    AnotherDoor(pg_db, settings, "E-RACE", monkeypatch)
    intake = EventIntake(pg_db, settings, store=SqlEventStore(), clock=clock_at(NOW))
    batch = events(
        {"event_id": "E-1"},
        {"event_id": "E-RACE", "citizen_phone": "13800000001"},
        {"event_id": "E-3", "citizen_phone": "13800000003"},
    )
    results = yield intake.store(batch, "http")
    assert [(r.event_id, r.status) for r in results] == [
        ("E-1", "accepted"),
        ("E-RACE", "duplicate"),
        ("E-3", "accepted"),
    ]
    assert count(pg_db, m.ServiceEvent) == 3 and count(pg_db, m.OutboundMessage) == 3
