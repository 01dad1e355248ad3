"""Callbacks made by hand, on SQLite and PostgreSQL: the list, a reached call completing the
task and reaching the case, unreachable after the configured days."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.callbacks.manual import ManualCallRecord
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseForbidden, CaseRefused
from storage import case_store
from storage import models as m
from storage.case_rows import open_cases, openings_for_surveys
from storage.manual_calls import manual_list, record_call, sweep_unreachable
from tests.callbacks.conftest import T0, add_task
from tests.cases.conftest import HANDLER, INSPECTOR, OTHER, STATION, SUB_INSPECTOR

SETTINGS = CaseSettings(unreachable_after_days=3)


def unit(session, code):
    return session.scalar(sa.select(m.Unit).where(m.Unit.code == code))


def tasks(db, *, with_case: bool):
    def make(session):
        mine = add_task(
            session,
            unit(session, STATION),
            "13800000001",
            status="manual",
            trigger="unsatisfied" if with_case else "non_response",
        )
        other = add_task(session, unit(session, OTHER), "13800000002", status="no_input")
        add_task(session, unit(session, STATION), "13800000003", status="completed")
        if with_case:
            open_cases(
                session,
                openings_for_surveys(session, [mine.survey_id], "sms_unsatisfied", T0),
                SETTINGS,
            )
        return mine.id, other.id

    return db.run_sync(make)


def counted_by_the_reports(db) -> dict[str, int]:
    """What the reports (issue 15) count for these tasks: reached by hand, unreachable."""
    from gateway.reports.store import SurveyFact, count_facts

    def facts(session):
        return [
            SurveyFact(
                unit_code="",
                occurred_at=T0,
                callback_status=t.status,
                callback_completed=t.completed_at is not None,
            )
            for t in session.scalars(sa.select(m.CallbackTask))
        ]

    figures = count_facts(db.run_sync(facts))
    return {"reached_by_hand": figures.reached_by_hand, "unreachable": figures.unreachable}


def test_the_list_holds_what_the_ivr_could_not_finish_within_the_units(db):
    mine, other = tasks(db, with_case=True)
    everything = db.run_sync(manual_list, INSPECTOR)
    assert [(r["callback_id"], r["status"]) for r in everything] == [
        (mine, "manual"),
        (other, "no_input"),
    ]
    assert everything[0]["phone"] != "13800000001" and everything[0]["case_id"] is not None
    assert [r["callback_id"] for r in db.run_sync(manual_list, SUB_INSPECTOR)] == [mine]
    page = db.run_sync(manual_list, INSPECTOR, limit=1)
    assert [
        r["callback_id"] for r in db.run_sync(manual_list, INSPECTOR, after=page[0]["callback_id"])
    ] == [other]
    with pytest.raises(CaseForbidden):
        db.run_sync(manual_list, HANDLER)
    shown = db.run_sync(manual_list, INSPECTOR, reveal_phone=True)
    assert shown[0]["phone"] == "13800000001"
    assert db.run_sync(lambda s: s.scalar(sa.select(m.AuditEntry.action))) == "manual_phones_shown"


def test_a_reached_call_completes_the_task_and_reaches_the_case(db):
    mine, _ = tasks(db, with_case=True)
    call = ManualCallRecord(reached=True, reason_key="2", consent=True, notes="已致歉")
    result = db.run_sync(record_call, INSPECTOR, mine, call, T0 + timedelta(days=1), SETTINGS)
    assert (result["status"], result["reached"]) == ("manual", True)
    task = db.run_sync(lambda s: s.get(m.CallbackTask, mine))
    assert (task.reason_key, task.consent, task.completed_at is not None) == ("2", True, True)
    assert counted_by_the_reports(db) == {"reached_by_hand": 1, "unreachable": 1}
    detail = db.run_sync(case_store.case_detail, INSPECTOR, result["case_id"], T0)
    assert (detail["consent"], detail["reason_key"]) == (True, "2")
    assert detail["callback"]["manual_calls"][0]["notes"] == "已致歉"
    assert db.run_sync(manual_list, INSPECTOR)[0]["callback_id"] != mine
    with pytest.raises(CaseRefused, match="already reached"):
        db.run_sync(record_call, INSPECTOR, mine, call, T0, SETTINGS)


def test_a_non_responder_rating_unsatisfied_by_phone_opens_a_case(db):
    mine, _ = tasks(db, with_case=False)
    call = ManualCallRecord(reached=True, rating="unsatisfied", reason_key="1", consent=False)
    result = db.run_sync(record_call, INSPECTOR, mine, call, T0, SETTINGS)
    detail = db.run_sync(case_store.case_detail, INSPECTOR, result["case_id"], T0)
    assert (detail["origin"], detail["consent"]) == ("ivr_unsatisfied", False)


def test_unreachable_after_the_configured_days_with_every_attempt_listed(db):
    mine, _ = tasks(db, with_case=False)
    missed = ManualCallRecord(reached=False, notes="无人接听")
    assert db.run_sync(record_call, INSPECTOR, mine, missed, T0, SETTINGS)["status"] == "manual"
    later = T0 + timedelta(days=3)
    assert db.run_sync(record_call, INSPECTOR, mine, missed, later, SETTINGS)["status"] == (
        "unreachable"
    )
    [row] = [
        r
        for r in db.run_sync(manual_list, INSPECTOR, include_unreachable=True)
        if r["callback_id"] == mine
    ]
    assert row["status"] == "unreachable" and len(row["manual_calls"]) == 2
    assert counted_by_the_reports(db)["unreachable"] == 2
    with pytest.raises(CaseRefused, match="no answers"):
        db.run_sync(
            record_call,
            INSPECTOR,
            mine,
            ManualCallRecord(False, rating="satisfied"),
            later,
            SETTINGS,
        )


def test_the_sweep_marks_old_unanswered_tasks(db):
    mine, _ = tasks(db, with_case=False)
    db.run_sync(record_call, INSPECTOR, mine, ManualCallRecord(reached=False), T0, SETTINGS)
    assert db.run_sync(sweep_unreachable, T0 + timedelta(days=2), SETTINGS) == []
    assert db.run_sync(sweep_unreachable, T0 + timedelta(days=3), SETTINGS) == [mine]


def test_a_handler_may_not_record_calls(db):
    mine, _ = tasks(db, with_case=False)
    with pytest.raises(CaseForbidden):
        db.run_sync(record_call, HANDLER, mine, ManualCallRecord(reached=False), T0, SETTINGS)
