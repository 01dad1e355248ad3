"""Storing one attempt's IVR result, the atomic spool, and ingesting the spool later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.flow import CallResult, RecordingInfo
from ivr.recordings import describe_recording
from ivr.spool import ingest_spool, pending_files, read_spool_file, write_spool
from storage.callback_results import UnknownAttemptError, session_writer, write_result
from storage.db import make_engine, make_session_factory, transaction
from storage.models import AuditEntry, Recording
from tests.fakes.agi_asterisk import wav_bytes
from tests.ivr.conftest import CHANNEL_ID, SeededDb


def result_for(db: SeededDb, **changes) -> CallResult:
    base = dict(
        callback_id=db.callback_id,
        attempt_id=db.attempt_id,
        channel_id=CHANNEL_ID,
        confirmed=True,
        reason_key="2",
        reason="efficiency",
        consent=True,
        ended_how="completed",
        started_at="2026-11-27T02:00:00.000+00:00",
        ended_at="2026-11-27T02:01:30.000+00:00",
        recording=RecordingInfo("/rec/a.wav", 12.5, 200_044, "ab" * 32, False),
        steps=["answered", "confirm:1"],
    )
    base.update(changes)
    return CallResult(**base)


def test_write_result_fills_the_attempt_and_the_recording(any_db: SeededDb) -> None:
    """Every collected answer lands on call_attempts, the file on recordings (both back-ends)."""
    with transaction(any_db.sessions) as s:
        assert write_result(s, result_for(any_db)) is True
    a = any_db.attempt()
    assert (a.confirmed, a.reason_key, a.consent, a.ended_how) == (True, "2", True, "completed")
    assert a.result_at.isoformat().startswith("2026-11-27T02:01:30")
    rec = a.recording
    assert (rec.path, rec.duration_seconds, rec.size_bytes, rec.partial) == (
        "/rec/a.wav",
        12.5,
        200_044,
        False,
    )


def test_write_result_audits_the_steps_without_phone_numbers(sqlite_db: SeededDb) -> None:
    """The audit row keeps how the conversation went, for supervisors; no number in it."""
    with transaction(sqlite_db.sessions) as s:
        write_result(s, result_for(sqlite_db))
    with sqlite_db.sessions() as s:
        entry = s.scalars(sa.select(AuditEntry)).one()
    assert entry.detail["steps"] == ["answered", "confirm:1"]
    assert "13812345678" not in json.dumps(entry.detail)


def test_a_second_result_for_the_same_attempt_changes_nothing(sqlite_db: SeededDb) -> None:
    """Idempotent: a re-read spool file after a crash is a duplicate, not an overwrite."""
    with transaction(sqlite_db.sessions) as s:
        write_result(s, result_for(sqlite_db))
    with transaction(sqlite_db.sessions) as s:
        assert write_result(s, result_for(sqlite_db, reason_key="5")) is False
    assert sqlite_db.attempt().reason_key == "2"


def test_an_unknown_attempt_is_refused_by_name(sqlite_db: SeededDb) -> None:
    """A result for attempt 999 says which attempt does not exist."""
    with (
        pytest.raises(UnknownAttemptError, match="999"),
        transaction(sqlite_db.sessions) as s,
    ):
        write_result(s, result_for(sqlite_db, attempt_id=999))


def test_an_attempt_of_another_callback_is_refused(sqlite_db: SeededDb) -> None:
    """Ids that do not belong together are refused, naming both."""
    with (
        pytest.raises(UnknownAttemptError, match="belongs to callback"),
        transaction(sqlite_db.sessions) as s,
    ):
        write_result(s, result_for(sqlite_db, callback_id=sqlite_db.callback_id + 1))


def test_without_ids_the_channel_id_finds_the_attempt(sqlite_db: SeededDb) -> None:
    """Channel variables lost: the Uniqueid (our ChannelId) still identifies the attempt."""
    with transaction(sqlite_db.sessions) as s:
        write_result(s, result_for(sqlite_db, callback_id=None, attempt_id=None))
    assert sqlite_db.attempt().ended_how == "completed"


def test_spool_write_is_atomic_and_readable(tmp_path: Path) -> None:
    """One complete JSON file, no temporary left behind, reads back equal."""
    r = CallResult(callback_id=1, attempt_id=2, channel_id="pj-2-x", ended_how="hangup")
    path = write_spool(tmp_path / "spool", r)
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [path.name]
    assert read_spool_file(path) == r


def test_ingest_stores_and_removes_spooled_results(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """A spooled result reaches the database and its file is gone."""
    spool = tmp_path / "spool"
    write_spool(spool, result_for(sqlite_db))
    report = ingest_spool(spool, session_writer(sqlite_db.sessions))
    assert report.attempt_ids == [sqlite_db.attempt_id]
    assert pending_files(spool) == []
    assert sqlite_db.attempt().ended_how == "completed"


def test_ingest_quarantines_a_bad_file_with_the_reason(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """Broken JSON goes to bad/ with a .error file naming the problem; good files still load."""
    spool = tmp_path / "spool"
    write_spool(spool, result_for(sqlite_db))
    (spool / "attempt-0-broken.json").write_text("{not json", encoding="utf-8")
    report = ingest_spool(spool, session_writer(sqlite_db.sessions))
    assert report.bad == ["attempt-0-broken.json"]
    assert report.ingested
    why = (spool / "bad" / "attempt-0-broken.json.error").read_text(encoding="utf-8")
    assert "attempt-0-broken.json" in why and "JSON" in why


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
        ('{"v": 1, "x": "户"}'.encode()[:-3] + b"\xe6\x88", "UTF-8"),
        (b"[]", "JSON object"),
    ],
    ids=["deep nesting", "broken UTF-8", "wrong type"],
)
def test_ingest_quarantines_unreadable_files_and_goes_on(
    sqlite_db: SeededDb, tmp_path: Path, content: bytes, named: str
) -> None:
    """A file Python's JSON reader gives up on is quarantined with its reason, not a stop to
    every later run; the good file beside it is stored."""
    spool = tmp_path / "spool"
    write_spool(spool, result_for(sqlite_db))
    (spool / "attempt-0-poison.json").write_bytes(content)
    report = ingest_spool(spool, session_writer(sqlite_db.sessions))
    assert report.bad == ["attempt-0-poison.json"] and report.ingested
    why = (spool / "bad" / "attempt-0-poison.json.error").read_text(encoding="utf-8")
    assert named in why


def test_ingest_quarantines_a_result_for_an_unknown_attempt(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """A result no attempt matches is kept aside, not deleted, not retried forever."""
    spool = tmp_path / "spool"
    write_spool(spool, result_for(sqlite_db, attempt_id=4242))
    report = ingest_spool(spool, session_writer(sqlite_db.sessions))
    assert report.bad and (spool / "bad" / report.bad[0]).exists()


def test_ingest_counts_duplicates_and_removes_them(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """A result already stored (written directly, spooled again) is dropped as a duplicate."""
    spool = tmp_path / "spool"
    with transaction(sqlite_db.sessions) as s:
        write_result(s, result_for(sqlite_db))
    write_spool(spool, result_for(sqlite_db))
    report = ingest_spool(spool, session_writer(sqlite_db.sessions))
    assert (report.ingested, len(report.duplicates)) == ([], 1)
    assert pending_files(spool) == []


def test_ingest_with_the_database_down_keeps_every_file(tmp_path: Path) -> None:
    """A database error propagates and leaves the spool untouched for the next run."""
    spool = tmp_path / "spool"
    write_spool(spool, CallResult(callback_id=1, attempt_id=2, ended_how="hangup"))
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/x")
    with pytest.raises(sa.exc.OperationalError):
        ingest_spool(spool, session_writer(make_session_factory(engine)))
    assert len(pending_files(spool)) == 1


def test_describe_recording_measures_a_wav(tmp_path: Path) -> None:
    """Size, SHA-256 and seconds of an 8 kHz 16-bit file."""
    import hashlib

    data = wav_bytes(2500)
    (tmp_path / "r.wav").write_bytes(data)
    info = describe_recording(str(tmp_path / "r"), partial=False)
    assert (info.bytes, info.seconds, info.sha256) == (
        len(data),
        2.5,
        hashlib.sha256(data).hexdigest(),
    )


def test_describe_recording_trusts_the_size_when_the_header_was_not_finalised(
    tmp_path: Path,
) -> None:
    """A file cut by a hangup with a zero data size in its header still gets its length."""
    data = bytearray(wav_bytes(1000))
    data[40:44] = b"\x00\x00\x00\x00"
    (tmp_path / "r.wav").write_bytes(bytes(data))
    assert describe_recording(str(tmp_path / "r"), partial=True).seconds == 1.0


def test_describe_recording_of_no_file_is_none(tmp_path: Path) -> None:
    """No file at all (Asterisk never started recording) is None, not an error."""
    assert describe_recording(str(tmp_path / "missing"), partial=True) is None


def test_recordings_table_gets_one_row_per_attempt(sqlite_db: SeededDb) -> None:
    """Even written twice, an attempt has at most one recording."""
    for _ in range(2):
        with transaction(sqlite_db.sessions) as s:
            write_result(s, result_for(sqlite_db))
    with sqlite_db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Recording)) == 1
