"""The export says how each rating arrived (sms, phone, callback) and keeps the later ones."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ivr.inbound_flow import InboundResult
from storage import models as m
from storage import survey_store as ss
from storage.inbound_results import SqlSurveyDirectory, write_inbound
from tests.surveys.support import NOW
from tests.surveys.test_survey_store import add_event, reply, send_all


def phone_call(db, settings, phone: str, key_rating: str, channel: str, minutes: int):
    """A call to the evaluation line from ``phone`` rating its one open survey."""
    at = NOW + timedelta(minutes=minutes)

    def go(s):
        (survey_id,) = SqlSurveyDirectory(s, settings, at).by_phone(phone)
        result = InboundResult(
            channel_id=channel,
            caller=phone,
            survey_id=survey_id,
            found_by="phone",
            rating=key_rating,
            ended_how="completed",
            started_at=at.isoformat(),
            ended_at=at.isoformat(),
        )
        return write_inbound(s, result, settings, at).counted

    return db.run_sync(go)


def test_the_export_shows_how_each_rating_arrived_and_the_later_ones(db, settings):
    """SMS then phone, phone then SMS, phone only, a non-response callback: each rating counted
    once, its way named, and what came after it listed, not counted."""
    for event_id, phone in (
        ("E-SMS", "13800000001"),
        ("E-PHONE", "13800000002"),
        ("E-ONLY", "13800000003"),
        ("E-CB", "13800000004"),
    ):
        add_event(db, settings, event_id=event_id, citizen_phone=phone)
    send_all(db, settings)
    reply(db, settings, "2", phone="13800000001", at=NOW + timedelta(minutes=5))
    assert phone_call(db, settings, "13800000001", "unsatisfied", "c1", 10) is False
    assert phone_call(db, settings, "13800000002", "satisfied", "c2", 5) is True
    reply(db, settings, "3", phone="13800000002", at=NOW + timedelta(minutes=20))
    assert phone_call(db, settings, "13800000003", "basically_satisfied", "c3", 7) is True

    def non_response(s):
        sv = s.scalars(sa.select(m.Survey).where(m.Survey.phone == "13800000004")).one()
        s.add(
            m.CallbackTask(
                survey_id=sv.id,
                unit_id=sv.unit_id,
                phone=sv.phone,
                trigger="non_response",
                status="completed",
                rating="satisfied",
            )
        )

    db.run_sync(non_response)
    records = {r["event_id"]: r for r in db.run_sync(lambda s: list(ss.survey_records(s)))}
    got = {
        k: (r["rating"], r["rated_via"], r["later_ratings"], r["voice_rating"])
        for k, r in records.items()
    }
    assert got == {
        "E-SMS": ("basically_satisfied", "sms", "phone:unsatisfied", None),
        "E-PHONE": ("satisfied", "phone", "sms:unsatisfied", None),
        "E-ONLY": ("basically_satisfied", "phone", None, None),
        "E-CB": (None, "callback", None, "satisfied"),
    }
    assert list(records["E-SMS"]) == list(ss.EXPORT_FIELDS)


def test_an_unsatisfied_rating_by_phone_asks_for_one_callback(db, settings):
    """The phone's unsatisfied rating creates the callback (pending: no reason given), and a
    later SMS 3 does not add a second."""
    add_event(db, settings, event_id="E-1", citizen_phone="13800000009")
    send_all(db, settings)
    assert phone_call(db, settings, "13800000009", "unsatisfied", "c9", 5) is True
    reply(db, settings, "3", phone="13800000009", at=NOW + timedelta(minutes=9))
    tasks = db.run_sync(lambda s: list(s.scalars(sa.select(m.CallbackTask))))
    assert [(t.trigger, t.status) for t in tasks] == [("unsatisfied", "pending")]
    # the phone rating sent no thank-you SMS: the caller was thanked by voice
    kinds = db.run_sync(lambda s: list(s.scalars(sa.select(m.OutboundMessage.kind))))
    assert "thank_you" not in kinds
