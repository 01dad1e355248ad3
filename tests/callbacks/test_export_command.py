"""``pingjing export callbacks``: the command line prints exactly the issue's fields, masked."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from storage import migrate
from storage.callback_export import FIELDS
from storage.db import make_engine, make_session_factory, transaction
from storage.models import CallAttempt, Recording
from tests.callbacks.conftest import T0, add_task, add_unit

#: The record of issue 5, in its order; FIELDS must not drift from it.
ISSUE_FIELDS = [
    "callback_id",
    "event_id",
    "unit_code",
    "phone",
    "status",
    "attempts",
    "reason_key",
    "reason",
    "recording_path",
    "recording_seconds",
    "consent",
    "completed_at",
]


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A migrated SQLite database with a completed callback in S1 and a pending one in S2."""
    url = f"sqlite:///{tmp_path / 'pj.db'}"
    path = tmp_path / "pj.toml"
    path.write_text(
        f'[service]\ndata_dir = "{tmp_path / "var"}"\n'
        f'[database]\nurl = "{url}"\n'
        '[smpp]\nsystem_id = "x"\npassword = "y"\n',
        encoding="utf-8",
    )
    migrate.upgrade(url)
    engine = make_engine(url)

    def seed(session: Any) -> dict[str, int]:
        bureau = add_unit(session, "B1")
        s1, s2 = add_unit(session, "S1", bureau), add_unit(session, "S2", bureau)
        done = add_task(session, s1, "13811112222", created_at=T0)
        done.status, done.attempts, done.reason_key, done.consent = "completed", 1, "3", False
        done.completed_at = T0 + timedelta(minutes=40)
        attempt = CallAttempt(callback_id=done.id, attempt_number=1, channel_id="pj-1-x")
        session.add(attempt)
        session.flush()
        session.add(
            Recording(
                call_attempt_id=attempt.id,
                path="/var/lib/pingjing/recordings/cb1-a1.wav",
                duration_seconds=7.5,
                size_bytes=120_044,
                sha256="ab" * 32,
            )
        )
        later = add_task(session, s2, "13933334444", created_at=T0 + timedelta(days=2))
        return {"done": done.id, "later": later.id}

    try:
        with transaction(make_session_factory(engine)) as session:
            ids = seed(session)
    finally:
        engine.dispose()
    return path, ids


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["export", "callbacks", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_module_fields_are_the_issues_fields() -> None:
    """The export's column list is exactly the record issue 5 asks for, in that order."""
    assert list(FIELDS) == ISSUE_FIELDS


def test_jsonl_prints_one_masked_record_per_task(config: Any, capsys: Any) -> None:
    """--format jsonl: one JSON object per task, exactly the issue's keys, phones masked."""
    path, ids = config
    rc, out, _ = run(capsys, "--config", str(path), "--format", "jsonl")
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [list(r) for r in records] == [ISSUE_FIELDS, ISSUE_FIELDS]
    done = records[0]
    assert done["callback_id"] == ids["done"]
    assert (done["unit_code"], done["phone"], done["status"]) == ("S1", "138****2222", "completed")
    assert (done["reason_key"], done["reason"], done["consent"]) == ("3", "communication", False)
    assert done["recording_path"] == "/var/lib/pingjing/recordings/cb1-a1.wav"
    assert done["recording_seconds"] == 7.5
    assert done["completed_at"] == "2026-11-27T10:40:00+08:00"  # service.timezone
    assert records[1]["phone"] == "139****4444"
    assert "13811112222" not in out and "13933334444" not in out


def test_csv_has_the_issues_header_and_empty_cells_for_none(config: Any, capsys: Any) -> None:
    """--format csv: the header is the issue's field list; missing values are empty cells."""
    path, ids = config
    rc, out, _ = run(capsys, "--config", str(path), "--format", "csv")
    assert rc == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ISSUE_FIELDS
    later = dict(zip(ISSUE_FIELDS, rows[2], strict=True))
    assert later["callback_id"] == str(ids["later"])
    assert (later["status"], later["reason"], later["recording_path"]) == ("pending", "", "")


def test_unit_and_dates_filter(config: Any, capsys: Any) -> None:
    """--unit takes one station; --from/--to are local dates, --to inclusive."""
    path, ids = config
    _, out, _ = run(capsys, "--config", str(path), "--unit", "S2")
    assert [json.loads(x)["callback_id"] for x in out.splitlines()] == [ids["later"]]
    _, out, _ = run(capsys, "--config", str(path), "--from", "2026-11-27", "--to", "2026-11-27")
    assert [json.loads(x)["callback_id"] for x in out.splitlines()] == [ids["done"]]
    _, out, _ = run(capsys, "--config", str(path), "--unit", "B1")
    assert len(out.splitlines()) == 2


def test_a_bad_filter_is_named_and_prints_nothing(config: Any, capsys: Any) -> None:
    """An unknown unit or status exits 2 naming it on stderr, with no partial output."""
    path, _ = config
    rc, out, err = run(capsys, "--config", str(path), "--unit", "ZZ")
    assert (rc, out) == (2, "")
    assert "'ZZ' does not exist" in err
    rc, out, err = run(capsys, "--config", str(path), "--status", "done")
    assert (rc, out) == (2, "")
    assert "status='done'" in err
