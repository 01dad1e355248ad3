"""Fixtures for the IVR tests: a database with one callback task and one answered attempt."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage.db import make_engine, make_session_factory, transaction
from storage.models import Base, CallAttempt, CallbackTask, ServiceEvent, Survey, Unit

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
CHANNEL_ID = "pj-9-abc"


@dataclass
class SeededDb:
    url: str
    sessions: Any
    engine: Any
    callback_id: int
    attempt_id: int
    channel_id: str = CHANNEL_ID

    def attempt(self) -> CallAttempt:
        with self.sessions() as s:
            a = s.get(CallAttempt, self.attempt_id)
            _ = a.recording
            return a


def seed(url: str, *, trigger: str = "unsatisfied") -> SeededDb:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as s:
        unit = Unit(code="U1", name="单位U1", kind="station")
        s.add(unit)
        s.flush()
        event = ServiceEvent(
            event_id="EV000001",
            category="incident",
            unit_id=unit.id,
            citizen_phone="13812345678",
            occurred_at=T0,
            source="demo",
        )
        s.add(event)
        s.flush()
        survey = Survey(
            event_id=event.id,
            unit_id=unit.id,
            category="incident",
            phone="13812345678",
            decision="selected",
            status="replied",
            rating="unsatisfied",
            replied_at=T0,
        )
        s.add(survey)
        s.flush()
        task = CallbackTask(
            survey_id=survey.id,
            unit_id=unit.id,
            phone="13812345678",
            trigger=trigger,
            status="in_progress",
            attempts=1,
            created_at=T0,
        )
        s.add(task)
        s.flush()
        attempt = CallAttempt(
            callback_id=task.id, attempt_number=1, channel_id=CHANNEL_ID, outcome="answered"
        )
        s.add(attempt)
        s.flush()
        ids = (task.id, attempt.id)
    return SeededDb(url, sessions, engine, *ids)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[SeededDb]:
    db = seed(f"sqlite:///{tmp_path / 'pingjing.sqlite3'}")
    yield db
    db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SeededDb]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'pingjing.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    db = seed(url)
    yield db
    db.engine.dispose()
