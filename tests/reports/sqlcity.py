"""A database holding a small city's events, stored by the real intake, with outcomes applied.

Outcomes (sent, delivered, replied, rating, comment, callback) are written as the pipeline
writes them, deterministically from each event's number, so every test sees the same city.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from gateway.events.schema import validate_event
from gateway.surveys.settings import SurveySettings
from storage import migrate
from storage import models as m
from storage.case_models import Case
from storage.db import Database
from storage.events_store import store_events
from storage.units import import_file

REPO = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Asia/Shanghai")
STATIONS = ["530402501000", "530402502000", "530403501000", "530422501000", "530400110000"]
CASE_STATES = ["open", "unsubstantiated", "rectifying", "closed", "under_review", "closed"]
COMMENTS = ["态度很差，等了两个小时", "没有告知需要什么材料", "名字写错了", "", "不满意"]
#: the first day of the events, local; they run over ``DAYS`` days (across a month end)
FIRST = datetime(2018, 5, 20, 9, tzinfo=ZONE)
DAYS = 20


@contextmanager
def pg_database(server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for a module's tests, dropped afterwards."""
    name = f"pingjing_r_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def officers_of(session) -> dict[str, list[str]]:
    rows = session.execute(sa.select(m.Unit.code, m.Officer.police_number).join(m.Officer.unit))
    out: dict[str, list[str]] = {}
    for code, number in rows:
        out.setdefault(code, []).append(number)
    return out


def build(url: str, events: int = 400) -> Database:
    migrate.upgrade(url)
    db = Database(url)
    for name in ("units.csv", "officers.csv"):
        db.run_sync(import_file, (REPO / "conf" / name).read_text("utf-8"), name)
    staff = db.run_sync(officers_of)
    settings = SurveySettings()
    batch = []
    for i in range(events):
        station = STATIONS[i % len(STATIONS)]
        occurred = FIRST + timedelta(days=i % DAYS, minutes=7 * i)
        people = staff.get(station) or next(iter(staff.values()))
        data = {
            "event_id": f"R-{i:05d}",
            "category": "window",
            "business": "户籍办理",
            "unit_code": station,
            "officer_ids": [people[i % len(people)]],
            "citizen_phone": f"139{i:08d}",
            "occurred_at": occurred.isoformat(),
            "closed_at": (occurred + timedelta(minutes=30)).isoformat(),
        }
        batch.append(validate_event(data, now=occurred + timedelta(hours=1)))
    now = FIRST.astimezone(UTC) + timedelta(days=DAYS + 1)
    by_day: dict = {}
    for event in batch:
        by_day.setdefault(event.occurred_at.date(), []).append(event)
    for _, part in sorted(by_day.items()):
        latest = max(e.ended_at for e in part) + timedelta(minutes=5)
        db.run_sync(
            lambda s, part, latest: store_events(
                s, part, source="file", settings=settings, now=latest
            ),
            part,
            latest,
        )
    db.run_sync(apply_outcomes, now)
    return db


def apply_outcomes(session, now: datetime) -> None:
    """Deterministic outcomes by event number: most sent and delivered, a quarter replying."""
    rows = session.execute(
        sa.select(
            m.Survey.id,
            m.ServiceEvent.event_id,
            m.ServiceEvent.occurred_at,
            m.Survey.unit_id,
            m.ServiceEvent.id,
        )
        .join(m.ServiceEvent, m.ServiceEvent.id == m.Survey.event_id)
        .where(m.Survey.decision == "selected")
    ).all()
    for survey_id, event_id, occurred, unit_id, event_pk in rows:
        i = int(event_id[2:])
        sent = occurred + timedelta(hours=2)
        values: dict = {"status": "sent", "sent_at": sent}
        if i % 10 != 9:
            values.update(status="delivered", delivered_at=sent + timedelta(seconds=5))
        if i % 4 == 0 or i % 13 == 0:
            rating = ("satisfied", "basically_satisfied", "unsatisfied")[i % 3 if i % 7 else 2]
            values.update(
                status="replied",
                replied_at=sent + timedelta(minutes=10),
                rating=rating,
                comment=COMMENTS[i % len(COMMENTS)] or None,
            )
            if rating == "unsatisfied":
                status = ("completed", "manual", "no_input", "pending")[(i // 4) % 4]
                state = CASE_STATES[i % len(CASE_STATES)]
                substantiated = state not in ("open", "verifying", "unsubstantiated")
                session.add(
                    Case(
                        survey_id=survey_id,
                        event_id=event_pk,
                        origin="sms_unsatisfied",
                        unit_id=unit_id,
                        event_unit_id=unit_id,
                        state=state,
                        opened_at=sent + timedelta(minutes=10),
                        due_at=sent + timedelta(days=3) if state not in ("closed",) else None,
                        substantiated_at=sent + timedelta(days=1) if substantiated else None,
                        closed_at=sent + timedelta(days=2) if state == "closed" else None,
                        returns=1 if i % 5 == 0 else 0,
                    )
                )
                session.add(
                    m.CallbackTask(
                        survey_id=survey_id,
                        unit_id=unit_id,
                        phone=f"139{i:08d}",
                        trigger="unsatisfied",
                        status=status,
                        reason_key=str(i % 5 + 1) if status == "completed" and i % 3 else None,
                        completed_at=sent + timedelta(hours=3) if i % 8 == 1 else None,
                        overdue=i % 5 == 0,
                        created_at=sent + timedelta(minutes=10),
                        updated_at=now,
                    )
                )
        session.execute(sa.update(m.Survey).where(m.Survey.id == survey_id).values(**values))
