"""Helpers shared by the survey tests: a seeded database and a valid event to vary."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, inside sending hours


def seed_units(session) -> None:
    from storage import models as m

    city = m.Unit(code="3301", name="某某市公安局", kind="city_bureau")
    sub = m.Unit(code="330102", name="上城分局", kind="sub_bureau", parent=city)
    station = m.Unit(code="330102001", name="城关派出所", kind="station", parent=sub)
    other = m.Unit(code="330103001", name="湖滨派出所", kind="station", parent=city)
    session.add_all([city, sub, station, other])
    session.flush()
    session.add_all(
        [
            m.Officer(police_number="P001", name="王警官", unit_id=station.id),
            m.Officer(police_number="P002", name="李警官", unit_id=station.id),
            m.Officer(police_number="P100", name="赵警官", unit_id=other.id),
        ]
    )


def make_db(url: str):
    from storage.db import Database
    from storage.models import Base

    db = Database(url, threads=2)
    Base.metadata.create_all(db.engine)
    db.run_sync(seed_units)
    return db


def event_data(**changes) -> dict:
    data = {
        "event_id": "E-1",
        "category": "window",
        "business": "户籍办理",
        "unit_code": "330102001",
        "officer_ids": ["P001"],
        "citizen_phone": "13812345678",
        "occurred_at": "2026-03-02T10:00:00+08:00",
        "closed_at": "2026-03-02T11:00:00+08:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}
