"""The outcome SMS's question answered (对整改结果是否满意), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from gateway.cases import lifecycle as lc
from gateway.cases.settings import CaseSettings
from gateway.smpp.api import InboundSms
from gateway.surveys.classifier import classify
from storage import case_store
from storage import models as m
from storage import survey_store as ss
from storage.case_models import Case
from storage.case_rows import attach_callback
from tests.cases.conftest import HANDLER, INSPECTOR
from tests.cases.test_case_store import NOW, SURVEYS, cases, rated

ASKING = CaseSettings(outcome_follow_up=True, outcome_hours=[])


def closed_with_consent(db, settings=ASKING):
    rated(db, "3 态度差")
    [case] = cases(db)
    db.run_sync(
        lambda s: attach_callback(
            s,
            case.survey_id,
            consent=True,
            reason_key="1",
            rating=None,
            recording_id=None,
            actor="ivr",
            now=NOW,
            settings=settings,
        )
    )
    for event in (
        lc.StartVerify("du", NOW, None),
        lc.Substantiate("du", NOW, None, ("P001",), "属实"),
        lc.Rectify("du", NOW, None, "批评教育"),
        lc.Submit("du", NOW, None),
        lc.Accept("du", NOW + timedelta(days=4), None),
    ):
        person = HANDLER if isinstance(event, lc.Rectify | lc.Submit) else INSPECTOR
        db.run_sync(case_store.act, person, case.id, event, settings)
    return case.id


def answer(db, text: str, minutes: int, settings=ASKING):
    at = NOW + timedelta(days=5, minutes=minutes)  # the survey's reply window has closed

    def insert(s):
        row = m.InboundMessage(
            source_addr="8613812345678",
            destination_addr="1069",
            data_coding=8,
            raw_hex="",
            text=text,
            received_at=at,
        )
        s.add(row)
        s.flush()
        return row.id

    inbound = InboundSms(db.run_sync(insert), "8613812345678", "1069", text, False, at)
    return db.run_sync(ss.apply_replies, [(inbound, classify(text))], SURVEYS, at, settings)[0]


def test_the_outcome_sms_asks_and_a_satisfied_answer_is_noted(db):
    case_id = closed_with_consent(db)
    [sms] = db.run_sync(
        lambda s: s.scalars(
            sa.select(m.OutboundMessage).where(m.OutboundMessage.kind == "case_outcome")
        ).all()
    )
    assert sms.text.endswith(ASKING.follow_up_question)
    outcome = answer(db, "1", 5)
    assert outcome.match_status == "case_reply"
    detail = db.run_sync(case_store.case_detail, INSPECTOR, case_id, NOW)
    last = detail["timeline"][-1]
    assert (last["action"], last["reason"], last["to"]) == (
        "follow_up_answered",
        "satisfied",
        "closed",
    )
    assert len(cases(db)) == 1
    assert answer(db, "3", 6).match_status == "unmatched"  # one answer per case


def test_an_unsatisfied_answer_goes_back_to_the_inspectorate(db):
    case_id = closed_with_consent(db)
    assert answer(db, "3 还是没解决", 5).match_status == "case_reply"
    first, again = cases(db)
    assert (first.id, again.origin, again.state) == (case_id, "follow_up", "open")
    assert again.event_id == first.event_id and "还是没解决" in again.complaint


def test_without_the_setting_nothing_is_asked_or_read(db):
    plain = CaseSettings(outcome_hours=[])
    closed_with_consent(db, plain)
    [text] = db.run_sync(
        lambda s: s.scalars(
            sa.select(m.OutboundMessage.text).where(m.OutboundMessage.kind == "case_outcome")
        ).all()
    )
    assert plain.follow_up_question not in text
    assert answer(db, "3", 5, plain).match_status == "unmatched"
    assert db.run_sync(lambda s: s.scalar(sa.select(sa.func.count()).select_from(Case))) == 1
