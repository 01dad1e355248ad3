"""The demo's supervision part on its own: every path of the loop is walked."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from gateway.cases.opening import CaseOpening
from gateway.cases.settings import CaseSettings
from gateway.demo.supervision import print_supervision, work
from storage.case_models import CaseEvent
from storage.case_rows import open_cases
from tests.cases.conftest import OTHER, STATION


def test_the_demo_works_cases_to_each_end(db):
    settings = CaseSettings()
    at = datetime(2026, 11, 2, 2, tzinfo=UTC)
    openings = [
        CaseOpening(
            STATION if i % 2 else OTHER,
            "complaint",
            at,
            officers=("P001",),
            phone="13800000000",
            consent=True,
        )
        for i in range(7)
    ]
    db.run_sync(lambda s: open_cases(s, openings, settings))
    data = db.run_sync(work, settings, print)
    assert data["states"] == {
        "closed": 3,
        "unsubstantiated": 1,
        "under_review": 1,
        "verifying": 1,
        "open": 1,
    }
    assert data["worked"]["closed after a return"] == 1
    assert data["outcome_sms"] == 4  # three closed and one unsubstantiated, all consenting
    assert any(p["step"] >= 2 for p in data["ladder"]["proposals"])
    returns = db.run_sync(
        lambda s: s.scalar(sa.select(sa.func.count()).where(CaseEvent.action == "return"))
    )
    assert returns == 1
    lines: list[str] = []
    print_supervision(data, lines.append)
    assert any("accountability ladder" in line for line in lines)
