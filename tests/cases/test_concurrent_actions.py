"""Two people acting on one case at the same moment, in two real transactions at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from gateway.cases import lifecycle as lc
from gateway.cases.opening import CaseOpening
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseConflict
from storage import case_store
from storage.case_rows import open_cases
from tests.cases.conftest import INSPECTOR, STATION, SUB_INSPECTOR

SETTINGS = CaseSettings()
AT = datetime(2026, 11, 2, 2, tzinfo=UTC)


def test_the_second_of_two_simultaneous_findings_gets_a_conflict(db):
    """Both read version 2 and decide at once: exactly one finding is stored, the other
    person is told, and the timeline has one finding."""
    [case_id] = db.run_sync(
        lambda s: open_cases(s, [CaseOpening(STATION, "complaint", AT)], SETTINGS)
    )
    db.run_sync(case_store.act, INSPECTOR, case_id, lc.StartVerify("a", AT, 1), SETTINGS)
    events = [
        (INSPECTOR, lc.Substantiate(INSPECTOR.name, AT, 2, ("P001",), "属实")),
        (SUB_INSPECTOR, lc.Unsubstantiate(SUB_INSPECTOR.name, AT, 2, "不属实")),
    ]
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def act(person, event):
        start.wait()
        try:
            outcomes.append(db.run_sync(case_store.act, person, case_id, event, SETTINGS))
        except CaseConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=act, args=pair) for pair in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    conflicts = [o for o in outcomes if isinstance(o, CaseConflict)]
    done = [o for o in outcomes if isinstance(o, dict)]
    assert len(conflicts) == 1 and len(done) == 1
    detail = db.run_sync(case_store.case_detail, INSPECTOR, case_id, AT)
    assert detail["state"] == done[0]["state"] and detail["version"] == 3
    assert [t["action"] for t in detail["timeline"]].count("start_verify") == 1
    assert len(detail["timeline"]) == 3
