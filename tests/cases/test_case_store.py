"""Cases in storage, on SQLite and PostgreSQL: opened with the rating, worked to the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway.cases import lifecycle as lc
from gateway.cases.opening import CaseOpening
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseConflict, CaseForbidden, CaseNotFound, CaseQuery, CaseRefused
from gateway.events.schema import validate_event
from gateway.smpp.api import InboundSms, SubmitOutcome
from gateway.surveys.classifier import classify
from gateway.surveys.settings import SurveySettings
from storage import case_store as store
from storage import models as m
from storage import survey_store as ss
from storage.case_models import Case, CaseEvent
from storage.case_rows import attach_callback, open_cases, openings_for_surveys
from storage.events_store import store_event
from tests.cases.conftest import (
    FOREIGN_HANDLER,
    HANDLER,
    INSPECTOR,
    OTHER,
    STATION,
    SUB,
    SUB_INSPECTOR,
    VIEWER,
)
from tests.surveys.support import NOW, event_data

SURVEYS = SurveySettings()
CASES = CaseSettings()


def rated(db, text: str, event_id: str = "E-1", phone: str = "13812345678"):
    """An event surveyed, sent, and answered with ``text``; returns the reply's outcome."""
    event = validate_event(event_data(event_id=event_id, citizen_phone=phone), now=NOW)
    db.run_sync(store_event, event, source="file", settings=SURVEYS, now=NOW)
    for item in db.run_sync(ss.claim_due, NOW, 100, SURVEYS):
        db.run_sync(
            ss.record_outcome,
            SubmitOutcome(item.outbound_id, "submitted", ("m",), 1, None),
            NOW,
            SURVEYS,
        )
    at = NOW + timedelta(minutes=5)

    def insert(s):
        row = m.InboundMessage(
            source_addr="86" + phone,
            destination_addr="1069",
            data_coding=8,
            raw_hex="",
            text=text,
            received_at=at,
        )
        s.add(row)
        s.flush()
        return row.id

    inbound = InboundSms(db.run_sync(insert), "86" + phone, "1069", text, False, at)
    return db.run_sync(ss.apply_reply, inbound, classify(text), SURVEYS, at)


def cases(db):
    return db.run_sync(lambda s: s.scalars(sa.select(Case).order_by(Case.id)).all())


def do(db, person, case_id, kind, version, **kw):
    event = kind(person.name, NOW + timedelta(hours=1), version, **kw)
    return db.run_sync(store.act, person, case_id, event, CASES)


def test_an_unsatisfied_reply_opens_one_case_in_the_same_transaction(db):
    """Rated 3 by SMS: the callback task and the case exist together; the case is the
    sub-bureau's (vertical management), due in 3 working days, names the event's officer."""
    rated(db, "3 态度差")
    [case] = cases(db)
    [task] = db.run_sync(lambda s: s.scalars(sa.select(m.CallbackTask)).all())
    assert case.survey_id == task.survey_id and case.origin == "sms_unsatisfied"
    detail = db.run_sync(store.case_detail, INSPECTOR, case.id, NOW)
    assert (detail["state"], detail["unit"], detail["event_unit"]) == ("open", SUB, STATION)
    assert detail["officers"] == [{"police_number": "P001", "name": "王警官"}]
    assert detail["due_at"] == CASES.calendar().due(case.opened_at, 3, CASES.zone)
    assert [e["action"] for e in detail["timeline"]] == ["open"]
    assert detail["phone"] != "13812345678" and detail["phone"].endswith("5678")


def test_a_batch_of_unsatisfied_replies_opens_each_its_own_case(db):
    """Cases are written for the whole reply batch at once: each case keeps its own survey,
    officers (none named twice) and ``open`` line; a survey that has a case gets no second."""
    officers = {"E-1": ["P001"], "E-2": ["P001", "P002"], "E-3": ["P002"]}
    phones = {"E-1": "13800000001", "E-2": "13800000002", "E-3": "13800000003"}
    for event_id, phone in phones.items():
        event = validate_event(
            event_data(event_id=event_id, citizen_phone=phone, officer_ids=officers[event_id]),
            now=NOW,
        )
        db.run_sync(store_event, event, source="file", settings=SURVEYS, now=NOW)
    for item in db.run_sync(ss.claim_due, NOW, 100, SURVEYS):
        outcome = SubmitOutcome(item.outbound_id, "submitted", ("m",), 1, None)
        db.run_sync(ss.record_outcome, outcome, NOW, SURVEYS)
    at = NOW + timedelta(minutes=5)

    def replies(s):
        rows = [
            m.InboundMessage(
                source_addr="86" + phone,
                destination_addr="1069",
                data_coding=8,
                raw_hex="",
                text=text,
                received_at=at,
            )
            for phone, text in zip(phones.values(), ["3 态度差", "不满意", "3"], strict=True)
        ]
        s.add_all(rows)
        s.flush()
        return [
            (InboundSms(r.id, r.source_addr, "1069", r.text, False, at), classify(r.text))
            for r in rows
        ]

    batch = db.run_sync(replies)
    db.run_sync(ss.apply_replies, batch, SURVEYS, at)
    opened = cases(db)
    assert len(opened) == 3 and [c.id for c in opened] == sorted(c.id for c in opened)
    for case in opened:
        detail = db.run_sync(store.case_detail, INSPECTOR, case.id, NOW)
        event_id = db.run_sync(
            lambda s, c=case: s.scalar(
                sa.select(m.ServiceEvent.event_id).where(m.ServiceEvent.id == c.event_id)
            )
        )
        survey_phone = db.run_sync(
            lambda s, c=case: s.scalar(sa.select(m.Survey.phone).where(m.Survey.id == c.survey_id))
        )
        assert survey_phone == phones[event_id]
        assert [o["police_number"] for o in detail["officers"]] == officers[event_id]
        assert [e["action"] for e in detail["timeline"]] == ["open"]
        assert (detail["state"], detail["origin"]) == ("open", "sms_unsatisfied")
    openings = db.run_sync(
        lambda s: openings_for_surveys(s, [c.survey_id for c in opened], "sms_unsatisfied", at)
    )
    assert db.run_sync(open_cases, openings, CASES) == []
    assert len(cases(db)) == 3


def test_a_satisfied_reply_opens_no_case(db):
    rated(db, "1 很好")
    assert cases(db) == []


def test_the_whole_loop_with_one_return_and_the_outcome_sms(db):
    """Verify, substantiate, rectify, submit, return (退回), rectify, submit, accept: closed,
    one return counted, every step on the timeline, the consenting citizen told by SMS."""
    rated(db, "3 态度差")
    [case] = cases(db)
    db.run_sync(
        lambda s: attach_callback(
            s,
            case.survey_id,
            consent=True,
            reason_key="2",
            rating=None,
            recording_id=None,
            actor="ivr",
            now=NOW,
            settings=CASES,
        )
    )
    v = db.run_sync(store.case_detail, INSPECTOR, case.id, NOW)["version"]
    steps = [
        (SUB_INSPECTOR, lc.StartVerify, {}),
        (SUB_INSPECTOR, lc.Substantiate, {"officers": ("P001", "P002"), "finding": "态度生硬"}),
        (HANDLER, lc.Rectify, {"measure": "批评教育"}),
        (HANDLER, lc.Submit, {"note": "已整改"}),
        (SUB_INSPECTOR, lc.Return, {"reason": "整改材料不全"}),
        (HANDLER, lc.Rectify, {"measure": "补充谈话记录"}),
        (HANDLER, lc.Submit, {}),
        (INSPECTOR, lc.Accept, {}),
    ]
    for person, kind, fields in steps:
        detail = do(db, person, case.id, kind, v, **fields)
        v = detail["version"]
    assert (detail["state"], detail["returns"], detail["consent"]) == ("closed", 1, True)
    assert [e["action"] for e in detail["timeline"]] == [
        "open",
        "callback_attached",
        "start_verify",
        "substantiate",
        "rectify",
        "submit",
        "return",
        "rectify",
        "submit",
        "accept",
    ]
    returned = detail["timeline"][6]
    assert (returned["actor"], returned["from"], returned["to"], returned["reason"]) == (
        SUB_INSPECTOR.name,
        "under_review",
        "rectifying",
        "整改材料不全",
    )
    assert detail["measures"] == ["批评教育", "补充谈话记录"]
    [sms] = db.run_sync(
        lambda s: s.scalars(
            sa.select(m.OutboundMessage).where(m.OutboundMessage.kind == "case_outcome")
        ).all()
    )
    assert sms.destination == "13812345678" and "情况属实" in sms.text
    assert "王警官" not in sms.text and "P001" not in sms.text
    assert detail["outcome_sms_id"] == sms.id


def test_no_outcome_sms_without_consent(db):
    rated(db, "3 态度差")
    [case] = cases(db)
    do(db, INSPECTOR, case.id, lc.StartVerify, 1)
    detail = do(db, INSPECTOR, case.id, lc.Unsubstantiate, 2, reason="录音显示处置规范")
    assert detail["state"] == "unsubstantiated" and detail["closed_at"] is not None
    assert (
        db.run_sync(
            lambda s: s.scalar(
                sa.select(sa.func.count())
                .select_from(m.OutboundMessage)
                .where(m.OutboundMessage.kind == "case_outcome")
            )
        )
        == 0
    )


def test_two_people_acting_at_once_the_second_gets_a_conflict(db):
    rated(db, "3 态度差")
    [case] = cases(db)
    do(db, INSPECTOR, case.id, lc.StartVerify, 1)
    do(db, INSPECTOR, case.id, lc.Substantiate, 2, officers=("P001",), finding="属实")
    with pytest.raises(CaseConflict, match="changed since you read it"):
        do(db, SUB_INSPECTOR, case.id, lc.Unsubstantiate, 2, reason="不属实")
    detail = db.run_sync(store.case_detail, INSPECTOR, case.id, NOW)
    assert (detail["state"], detail["version"]) == ("substantiated", 3)


def test_refusals_change_nothing_and_say_why(db):
    rated(db, "3 态度差")
    [case] = cases(db)
    with pytest.raises(CaseRefused, match="not possible now"):
        do(db, INSPECTOR, case.id, lc.Accept, 1)
    with pytest.raises(CaseForbidden, match="handler"):
        do(db, HANDLER, case.id, lc.StartVerify, 1)
    with pytest.raises(CaseForbidden, match=SUB):
        db.run_sync(store.case_detail, FOREIGN_HANDLER, case.id, NOW)
    do(db, INSPECTOR, case.id, lc.StartVerify, 1)
    with pytest.raises(CaseRefused, match="not in the registry"):
        do(db, INSPECTOR, case.id, lc.Substantiate, 2, officers=("NOPE",), finding="x")
    with pytest.raises(CaseNotFound):
        db.run_sync(store.case_detail, INSPECTOR, 999, NOW)
    detail = db.run_sync(store.case_detail, INSPECTOR, case.id, NOW)
    assert (detail["state"], detail["version"], len(detail["timeline"])) == ("verifying", 2, 2)
    assert db.run_sync(lambda s: s.scalar(sa.select(sa.func.count()).select_from(CaseEvent))) == 2


def test_the_ivr_rating_of_a_non_responder_opens_a_case_with_the_consent(db):
    rated(db, "1 很好")
    survey_id = db.run_sync(lambda s: s.scalar(sa.select(m.Survey.id)))
    case_id = db.run_sync(
        lambda s: attach_callback(
            s,
            survey_id,
            consent=True,
            reason_key="3",
            rating="unsatisfied",
            recording_id=None,
            actor="ivr",
            now=NOW,
            settings=CASES,
        )
    )
    detail = db.run_sync(store.case_detail, VIEWER, case_id, NOW)
    assert (detail["origin"], detail["consent"], detail["reason_key"]) == (
        "ivr_unsatisfied",
        True,
        "3",
    )


def test_inbox_filters_by_scope_state_and_overdue(db):
    rated(db, "3 态度差", "E-1", "13812345678")
    rated(db, "3 太慢", "E-2", "13812345679")
    first, second = cases(db)
    do(db, INSPECTOR, first.id, lc.StartVerify, 1)
    everything = db.run_sync(store.list_cases, CaseQuery())
    assert [c["id"] for c in everything] == [second.id, first.id]
    assert [c["id"] for c in db.run_sync(store.list_cases, CaseQuery(states=["verifying"]))] == [
        first.id
    ]
    assert db.run_sync(store.list_cases, CaseQuery(scope=OTHER)) == []
    assert len(db.run_sync(store.list_cases, CaseQuery(scope=SUB))) == 2
    late = NOW + timedelta(days=30)
    assert len(db.run_sync(store.list_cases, CaseQuery(overdue=True, now=late))) == 2
    assert db.run_sync(store.list_cases, CaseQuery(overdue=True, now=NOW)) == []
    page = db.run_sync(store.list_cases, CaseQuery(limit=1))
    assert [c["id"] for c in db.run_sync(store.list_cases, CaseQuery(after=page[0]["id"]))] == [
        first.id
    ]


def test_evidence_is_recorded_as_a_rectification_and_its_download_audited(db):
    rated(db, "3 态度差")
    [case] = cases(db)
    do(db, INSPECTOR, case.id, lc.StartVerify, 1)
    do(db, INSPECTOR, case.id, lc.Substantiate, 2, officers=("P001",), finding="属实")
    meta = {
        "sha256": "a" * 64,
        "filename": "谈话记录.pdf",
        "content_type": "application/pdf",
        "size_bytes": 10,
        "at": NOW,
    }
    detail = db.run_sync(store.add_evidence, HANDLER, case.id, 3, meta, CASES)
    assert detail["state"] == "rectifying" and detail["evidence"][0]["filename"] == "谈话记录.pdf"
    file = db.run_sync(store.evidence_file, VIEWER, case.id, detail["evidence"][0]["id"])
    assert file.sha256 == "a" * 64
    audit = db.run_sync(lambda s: s.scalars(sa.select(m.AuditEntry.action)).all())
    assert "evidence_download" in audit


def test_a_complaint_recorded_by_hand_opens_a_case(db):
    opening = CaseOpening(
        event_unit_code=STATION,
        origin="complaint",
        at=NOW,
        actor=INSPECTOR.name,
        complaint="群众来电反映窗口民警态度差",
        phone="13900000000",
        consent=True,
    )
    detail = db.run_sync(store.open_complaint, INSPECTOR, opening, CASES)
    assert (detail["origin"], detail["unit"], detail["complaint"]) == (
        "complaint",
        SUB,
        "群众来电反映窗口民警态度差",
    )
    with pytest.raises(CaseForbidden):
        db.run_sync(store.open_complaint, HANDLER, opening, CASES)


def test_the_outcome_sms_closed_at_night_waits_for_the_sending_hours(db):
    """Closed at 22:00 Shanghai: the SMS is queued for 09:00 and the outbox does not claim it
    before then (it goes out over SMPP like every other SMS)."""
    rated(db, "3 态度差")
    [case] = cases(db)
    db.run_sync(
        lambda s: attach_callback(
            s,
            case.survey_id,
            consent=True,
            reason_key=None,
            rating=None,
            recording_id=None,
            actor="ivr",
            now=NOW,
            settings=CASES,
        )
    )
    night = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    db.run_sync(store.act, INSPECTOR, case.id, lc.StartVerify("du", night, None), CASES)
    db.run_sync(
        store.act, INSPECTOR, case.id, lc.Unsubstantiate("du", night, None, "不属实"), CASES
    )
    [sms] = db.run_sync(
        lambda s: s.scalars(
            sa.select(m.OutboundMessage).where(m.OutboundMessage.kind == "case_outcome")
        ).all()
    )
    nine = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    assert sms.next_attempt_at == nine and "未发现民警存在过错" in sms.text
    claimed = db.run_sync(ss.claim_due, night + timedelta(hours=1), 100, SURVEYS)
    assert sms.id not in [c.outbound_id for c in claimed]
    claimed = db.run_sync(ss.claim_due, nine, 100, SURVEYS)
    assert sms.id in [c.outbound_id for c in claimed]
