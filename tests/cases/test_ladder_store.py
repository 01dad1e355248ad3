"""The ladder over stored cases, on SQLite and PostgreSQL: proposals and recorded decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway.accounts.model import Role, User
from gateway.cases import lifecycle as lc
from gateway.cases.opening import CaseOpening
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseForbidden, CaseRefused
from storage import case_store, ladder_store
from storage import models as m
from storage.account_models import UnitLeader
from storage.case_models import LadderDecision
from storage.case_rows import open_cases
from tests.cases.conftest import HANDLER, INSPECTOR, STATION

SETTINGS = CaseSettings()
T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def make_leaders(session) -> None:
    station = session.scalar(sa.select(m.Unit).where(m.Unit.code == STATION))
    officers = {o.police_number: o for o in session.scalars(sa.select(m.Officer))}
    session.add(UnitLeader(unit_id=station.id, officer_id=officers["P002"].id, role="principal"))


def found(db, day: int, officers=("P001",), substantiated=True) -> int:
    at = T + timedelta(days=day)

    def opened(session):
        return open_cases(session, [CaseOpening(STATION, "complaint", at, complaint="x")], SETTINGS)

    [case_id] = db.run_sync(opened)
    db.run_sync(case_store.act, INSPECTOR, case_id, lc.StartVerify("du", at, None), SETTINGS)
    event = (
        lc.Substantiate("du", at, None, officers, "属实")
        if substantiated
        else lc.Unsubstantiate("du", at, None, "不属实")
    )
    db.run_sync(case_store.act, INSPECTOR, case_id, event, SETTINGS)
    return case_id


def test_proposals_count_substantiated_cases_only_and_flag_the_leader(db):
    db.run_sync(make_leaders)
    first = found(db, 1)
    found(db, 2, substantiated=False)
    second = found(db, 3)
    listing = db.run_sync(ladder_store.proposals, INSPECTOR, SETTINGS, T + timedelta(days=10))
    assert listing["period"] == "2026"
    shown = [
        (p["subject"], p["police_number"], p["case_id"], p["step"], p["proposed"])
        for p in listing["proposals"]
    ]
    assert shown == [
        ("officer", "P001", first, 1, "notice"),
        ("principal", "P002", first, 1, "accountability"),
        ("officer", "P001", second, 2, "written_review"),
        ("principal", "P002", second, 2, "accountability"),
    ]
    assert listing["proposals"][2]["case_ids"] == [first, second]


def test_a_decision_is_recorded_once_with_who_and_when(db):
    case_id = found(db, 1)
    fields = {"case_id": case_id, "police_number": "P001", "subject": "officer"}
    now = T + timedelta(days=5)
    decided = db.run_sync(
        ladder_store.decide,
        INSPECTOR,
        SETTINGS,
        decision="changed",
        measure="notice",
        reason="初次，情节轻微",
        now=now,
        **fields,
    )
    assert decided["decision"]["decided_by"] == INSPECTOR.name
    with pytest.raises(CaseRefused, match="already decided"):
        db.run_sync(
            ladder_store.decide,
            INSPECTOR,
            SETTINGS,
            decision="dismissed",
            measure=None,
            reason="x",
            now=now,
            **fields,
        )
    row = db.run_sync(lambda s: s.scalars(sa.select(LadderDecision)).one())
    assert (row.decision, row.measure, row.step, row.period) == ("changed", "notice", 1, "2026")
    listing = db.run_sync(ladder_store.proposals, INSPECTOR, SETTINGS, now)
    assert listing["proposals"][0]["decision"]["reason"] == "初次，情节轻微"
    assert (
        db.run_sync(ladder_store.proposals, INSPECTOR, SETTINGS, now, undecided=True)["proposals"]
        == []
    )


def test_only_inspectors_in_scope_decide_and_leaders_read(db):
    case_id = found(db, 1)
    fields = {"case_id": case_id, "police_number": "P001", "subject": "officer"}
    with pytest.raises(CaseForbidden):
        db.run_sync(
            ladder_store.decide,
            HANDLER,
            SETTINGS,
            decision="as_proposed",
            measure=None,
            reason=None,
            now=T,
            **fields,
        )
    with pytest.raises(CaseForbidden):
        db.run_sync(ladder_store.proposals, HANDLER, SETTINGS, T)
    stranger = User(9, "hb", "湖滨督察", "330103001", Role.INSPECTOR)
    assert db.run_sync(ladder_store.proposals, stranger, SETTINGS, T)["proposals"] == []
    leader = User(10, "ld", "领导", "330102", Role.LEADER)
    assert len(db.run_sync(ladder_store.proposals, leader, SETTINGS, T)["proposals"]) == 1
