"""The export records: fields, masking, filters, and errors that name the bad filter."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from gateway.callbacks.export import FIELDS, ExportQueryError, parse_bound
from storage.callback_export import callback_records
from storage.models import CallAttempt, Recording
from tests.callbacks.conftest import T0, SyncDatabase, add_task, add_unit

SH = ZoneInfo("Asia/Shanghai")


def seed_tree(session: sa.orm.Session) -> dict[str, int]:
    """City → bureau → two stations; one completed task with a recording in S1, one pending
    in S2, one older task in the city bureau itself."""
    city = add_unit(session, "C0")
    bureau = add_unit(session, "B1", city)
    s1 = add_unit(session, "S1", bureau)
    s2 = add_unit(session, "S2", bureau)
    done = add_task(session, s1, "13811112222", created_at=T0)
    done.status, done.attempts, done.reason_key, done.consent = "completed", 2, "2", True
    done.completed_at = T0 + timedelta(hours=1)
    for n in (1, 2):
        attempt = CallAttempt(callback_id=done.id, attempt_number=n, channel_id=f"pj-{n}")
        session.add(attempt)
        session.flush()
        session.add(
            Recording(
                call_attempt_id=attempt.id,
                path=f"/var/spool/pingjing/rec-{n}.wav",
                duration_seconds=10.0 * n,
                size_bytes=100,
                sha256="0" * 64,
            )
        )
    pending = add_task(session, s2, "13933334444", created_at=T0 + timedelta(hours=2))
    old = add_task(session, city, "13755556666", created_at=T0 - timedelta(days=10))
    return {"done": done.id, "pending": pending.id, "old": old.id}


def test_record_fields_and_masking(any_db: SyncDatabase) -> None:
    """Each record has exactly the export fields, the phone masked, the latest recording."""
    ids = any_db.run_sync(seed_tree)
    records = any_db.run_sync(lambda s: list(callback_records(s)))
    assert [r["callback_id"] for r in records] == [ids["done"], ids["pending"], ids["old"]]
    done = records[0]
    assert tuple(done) == FIELDS
    assert done == {
        "callback_id": ids["done"],
        "event_id": done["event_id"],
        "unit_code": "S1",
        "phone": "138****2222",
        "status": "completed",
        "attempts": 2,
        "reason_key": "2",
        "reason": "efficiency",
        "recording_path": "/var/spool/pingjing/rec-2.wav",
        "recording_seconds": 20.0,
        "consent": True,
        "completed_at": T0 + timedelta(hours=1),
    }
    assert done["event_id"].startswith("EV")
    assert records[1]["recording_path"] is None
    assert records[1]["reason"] is None


def test_unit_filter_takes_the_subtree(any_db: SyncDatabase) -> None:
    """--unit B1 takes both stations below it but not the city bureau's own task."""
    ids = any_db.run_sync(seed_tree)
    got = any_db.run_sync(lambda s: [r["callback_id"] for r in callback_records(s, unit="B1")])
    assert got == [ids["done"], ids["pending"]]
    got = any_db.run_sync(lambda s: [r["callback_id"] for r in callback_records(s, unit="S2")])
    assert got == [ids["pending"]]


def test_date_filters(any_db: SyncDatabase) -> None:
    """from inclusive, to exclusive, on the task's creation."""
    ids = any_db.run_sync(seed_tree)
    got = any_db.run_sync(
        lambda s: [
            r["callback_id"]
            for r in callback_records(s, start=T0 - timedelta(days=1), end=T0 + timedelta(hours=2))
        ]
    )
    assert got == [ids["done"]]


def test_unknown_unit_is_an_error(db: SyncDatabase) -> None:
    """An unknown unit code is named in the error."""
    db.run_sync(seed_tree)
    with pytest.raises(ExportQueryError, match="unit 'X9' does not exist"):
        db.run_sync(lambda s: list(callback_records(s, unit="X9")))


def test_unknown_status_is_an_error(db: SyncDatabase) -> None:
    """An unknown status is named with the valid ones."""
    with pytest.raises(ExportQueryError, match="status='done' is not one of pending"):
        db.run_sync(lambda s: list(callback_records(s, status="done")))


def test_parse_bound_dates_are_local_days() -> None:
    """A date is local midnight; as --to, the whole day counts."""
    assert parse_bound("2026-11-27", SH, end=False, what="from").isoformat() == (
        "2026-11-26T16:00:00+00:00"
    )
    assert parse_bound("2026-11-27", SH, end=True, what="to").isoformat() == (
        "2026-11-27T16:00:00+00:00"
    )
    assert parse_bound("2026-11-27T09:30", SH, end=False, what="from").hour == 1


def test_parse_bound_rejects_garbage() -> None:
    """A bad date names the parameter and shows the accepted forms."""
    with pytest.raises(ExportQueryError, match="from='yesterday' is not a date"):
        parse_bound("yesterday", SH, end=False, what="from")


def test_export_streams_past_one_batch(any_db: SyncDatabase) -> None:
    """More tasks than one fetch batch (500): every record comes out once, in order, with the
    recording of its own task."""

    def many(session: sa.orm.Session) -> list[int]:
        unit = add_unit(session, "BIG")
        ids = []
        for i in range(1100):
            task = add_task(session, unit, f"1380000{i:04d}")
            if i % 250 == 0:
                attempt = CallAttempt(callback_id=task.id, attempt_number=1, channel_id=f"c{i}")
                session.add(attempt)
                session.flush()
                session.add(
                    Recording(
                        call_attempt_id=attempt.id,
                        path=f"/r/{task.id}.wav",
                        size_bytes=1,
                        sha256="0" * 64,
                    )
                )
            ids.append(task.id)
        return ids

    ids = any_db.run_sync(many)
    records = any_db.run_sync(lambda s: list(callback_records(s, unit="BIG")))
    assert [r["callback_id"] for r in records] == ids
    with_audio = [r for r in records if r["recording_path"]]
    assert [r["recording_path"] for r in with_audio] == [
        f"/r/{r['callback_id']}.wav" for r in with_audio
    ]
    assert len(with_audio) == 5
