"""Surveys open to one caller, and a runner for ``pingjing-agi <config> inbound``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gateway.surveys.codes import survey_code
from storage import models as m
from storage.db import make_engine, make_session_factory, transaction
from tests.fakes.agi_asterisk import AgiPeer, AgiSession, agi_command, run_agi

CALLER = "13812345678"
STRANGER = "13900000000"
LINE_CHANNEL = "line-1700000000.1"


@dataclass
class LineDb:
    url: str
    engine: Any
    sessions: Any
    surveys: list[int]  # oldest first
    codes: list[str]

    def survey(self, survey_id: int) -> m.Survey:
        with self.sessions() as s:
            return s.get(m.Survey, survey_id)

    def calls(self) -> list[m.PhoneCall]:
        with self.sessions() as s:
            return list(s.scalars(sa.select(m.PhoneCall).order_by(m.PhoneCall.id)))

    def rows(self, model: Any) -> list[Any]:
        with self.sessions() as s:
            rows = list(s.scalars(sa.select(model)))
            for row in rows:
                for rel in ("recording",):
                    if hasattr(row, rel):
                        getattr(row, rel)
            return rows


def seed_line(url: str, surveys: int = 1, phone: str = CALLER) -> LineDb:
    """``surveys`` surveys to ``phone``, sent hours apart, their reply windows open now."""
    engine = make_engine(url)
    m.Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    ids, codes = [], []
    with transaction(sessions) as s:
        unit = m.Unit(code="U1", name="城关派出所", kind="station")
        s.add(unit)
        s.flush()
        for i in range(surveys):
            sent = now - timedelta(hours=10 - i)
            event = m.ServiceEvent(
                event_id=f"EV{i:06d}",
                category="window",
                unit_id=unit.id,
                citizen_phone=phone,
                occurred_at=sent - timedelta(hours=1),
                source="demo",
            )
            s.add(event)
            s.flush()
            code = survey_code(event.id, 5)
            survey = m.Survey(
                event_id=event.id,
                unit_id=unit.id,
                category="window",
                phone=phone,
                decision="selected",
                status="delivered",
                code=code,
                sent_at=sent,
                delivered_at=sent,
                expires_at=sent + timedelta(hours=72),
            )
            s.add(survey)
            s.flush()
            ids.append(survey.id)
            codes.append(code)
    return LineDb(url, engine, sessions, ids, codes)


def call_line(
    db: LineDb | None,
    tmp_path: Path,
    *script: Any,
    caller: str = CALLER,
    callingpres: int = 0,
    env: dict[str, str] | None = None,
    url: str | None = None,
) -> AgiSession:
    """One call to the evaluation line: the real program, the fake Asterisk."""
    peer = AgiPeer(script=list(script), variables={})
    full_env = {
        "PINGJING_SERVICE_DATA_DIR": str(tmp_path / "data"),
        "PINGJING_DATABASE_URL": url or (db.url if db is not None else ""),
        **(env or {}),
    }
    return run_agi(
        peer,
        channel_id=LINE_CHANNEL,
        env=full_env,
        command=[*agi_command(), "", "inbound"],
        header={
            "number": caller,
            "callingpres": callingpres,
            "context": "pingjing-inbound",
            "extension": "s",
        },
    )
