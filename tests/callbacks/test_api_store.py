"""The API's store: the SQL version (SQLite and PostgreSQL) answers as the in-memory one."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from gateway.http.store import (
    AuditRecord,
    CallbackQuery,
    MemoryApiStore,
    RecordingTarget,
    UnknownFilterError,
)
from storage.api_store import SqlApiStore
from storage.models import AuditEntry, CallAttempt, Recording
from tests.callbacks.conftest import SyncDatabase, add_task, add_unit


def result(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    return out[0]


def seed(session: Any) -> dict[str, int]:
    city = add_unit(session, "C0")
    b1 = add_unit(session, "B1", city)
    s1 = add_unit(session, "S1", b1)
    task = add_task(session, s1)
    attempt = CallAttempt(callback_id=task.id, attempt_number=1, channel_id="pj-1")
    session.add(attempt)
    session.flush()
    rec = Recording(call_attempt_id=attempt.id, path="/r/1.wav", size_bytes=1, sha256="0" * 64)
    session.add(rec)
    session.flush()
    return {"C0": city.id, "B1": b1.id, "S1": s1.id, "task": task.id, "rec": rec.id}


@pytest.fixture
def stores(any_db: SyncDatabase) -> tuple[SqlApiStore, MemoryApiStore, dict[str, int]]:
    ids = any_db.run_sync(seed)
    memory = MemoryApiStore(
        units={"C0": (ids["C0"], None), "B1": (ids["B1"], "C0"), "S1": (ids["S1"], "B1")},
        recordings=[RecordingTarget(ids["rec"], "/r/1.wav", ids["task"], ids["S1"], "S1")],
    )
    return SqlApiStore(any_db), memory, ids


def test_subtrees_take_every_unit_below_and_nothing_for_an_unknown_code(stores: Any) -> None:
    sql, memory, ids = stores
    expected = {"B1": frozenset({ids["B1"], ids["S1"]}), "NOPE": frozenset()}
    assert result(sql.subtrees(["B1", "NOPE"])) == expected
    assert result(memory.subtrees(["B1", "NOPE"])) == expected


def test_a_recording_is_found_with_its_callback_and_unit(stores: Any) -> None:
    sql, memory, ids = stores
    expected = RecordingTarget(ids["rec"], "/r/1.wav", ids["task"], ids["S1"], "S1")
    assert result(sql.recording(ids["rec"])) == expected == result(memory.recording(ids["rec"]))
    assert result(sql.recording(10**9)) is None is result(memory.recording(10**9))


def test_an_audit_record_becomes_one_row(stores: Any, any_db: SyncDatabase) -> None:
    sql, _, _ = stores
    record = AuditRecord("anonymous", "recording.unauthenticated", "recording", "7", {"a": 1})
    result(sql.audit(record))
    rows = any_db.run_sync(
        lambda s: [
            (a.actor, a.action, a.object_id, a.detail) for a in s.scalars(sa.select(AuditEntry))
        ]
    )
    assert rows == [("anonymous", "recording.unauthenticated", "7", {"a": 1})]


def test_callbacks_are_narrowed_to_the_units_asked_and_an_unknown_status_is_named(
    stores: Any,
) -> None:
    sql, _, ids = stores
    inside = result(sql.callbacks(CallbackQuery(unit_ids=frozenset({ids["S1"]}))))
    outside = result(sql.callbacks(CallbackQuery(unit_ids=frozenset({ids["C0"]}))))
    assert [r["callback_id"] for r in inside] == [ids["task"]] and outside == []
    failure = result(sql.callbacks(CallbackQuery(unit_ids=None, status="bogus")))
    assert failure.check(UnknownFilterError) and "bogus" in str(failure.value)


def test_the_memory_store_pages_and_narrows_callbacks_as_the_sql_one() -> None:
    rows = [
        {"callback_id": 1, "unit_id": 10, "status": "pending"},
        {"callback_id": 2, "unit_id": 11, "status": "completed"},
        {"callback_id": 3, "unit_id": 10, "status": "completed"},
    ]
    memory = MemoryApiStore(callbacks=rows)
    query = CallbackQuery(unit_ids=frozenset({10}), status="completed")
    assert [r["callback_id"] for r in result(memory.callbacks(query))] == [3]
    page = CallbackQuery(unit_ids=None, after=1, limit=1)
    assert [r["callback_id"] for r in result(memory.callbacks(page))] == [2]
