"""Storing an event: one decision per event, the queued SMS, duplicates and unknown references."""

from datetime import timedelta

import sqlalchemy as sa

from gateway.events.schema import validate_event
from storage import models as m
from storage.events_store import store_event
from tests.surveys.support import NOW, event_data


def store(db, settings, now=NOW, **changes):
    event = validate_event(event_data(**changes), now=now)
    return db.run_sync(store_event, event, source="file", settings=settings, now=now)


def rows(db, model):
    return db.run_sync(lambda s: s.execute(sa.select(model)).scalars().all())


def test_selected_event_stores_event_survey_and_queued_sms(db, settings):
    """A selectable event gives a pending survey and one queued survey SMS, due after the delay."""
    result = store(db, settings)
    assert (result.status, result.decision) == ("accepted", "selected")
    [survey] = rows(db, m.Survey)
    assert (survey.status, survey.phone) == ("pending", "13812345678")
    assert survey.scheduled_at == NOW
    [sms] = rows(db, m.OutboundMessage)
    assert (sms.kind, sms.status, sms.survey_id) == ("survey", "queued", survey.id)
    assert "城关派出所" in sms.text and "户籍办理" in sms.text
    assert sms.next_attempt_at == NOW


def test_event_keeps_officers_tags_and_raw_phone(db, settings):
    store(
        db,
        settings,
        officer_ids=["P001", "P002"],
        tags=["arrest"],
        citizen_phone="+86 138 1234 5678",
    )

    def check(session):
        event = session.execute(sa.select(m.ServiceEvent)).scalar_one()
        return (
            sorted(o.police_number for o in event.officers),
            event.tags,
            event.citizen_phone,
            event.citizen_phone_raw,
        )

    assert db.run_sync(check) == (["P001", "P002"], ["arrest"], "13812345678", "+86 138 1234 5678")


def test_same_event_id_twice_is_duplicate_and_changes_nothing(db, settings):
    store(db, settings)
    again = store(db, settings, citizen_phone="13900000000")
    assert again.status == "duplicate"
    assert len(rows(db, m.ServiceEvent)) == 1
    assert len(rows(db, m.OutboundMessage)) == 1


def test_unknown_unit_is_rejected_with_reason(db, settings):
    result = store(db, settings, unit_code="999")
    assert result.status == "rejected"
    assert "unit_code" in result.reason and "999" in result.reason
    assert rows(db, m.ServiceEvent) == []


def test_unknown_officer_is_rejected_naming_it(db, settings):
    result = store(db, settings, officer_ids=["P001", "P404"])
    assert result.status == "rejected"
    assert "P404" in result.reason


def test_not_selected_event_is_recorded_with_reason_and_no_sms(db, settings):
    result = store(db, settings, tags=["juvenile"])
    assert result.decision == "sensitive_category"
    [survey] = rows(db, m.Survey)
    assert (survey.decision, survey.status) == ("sensitive_category", "not_selected")
    assert rows(db, m.OutboundMessage) == []


def test_opted_out_phone_is_not_surveyed(db, settings):
    db.run_sync(lambda s: s.add(m.OptOut(phone="13812345678", source="sms")))
    assert store(db, settings).decision == "opted_out"


def test_phone_surveyed_recently_is_skipped(db, settings):
    store(db, settings)
    later = NOW + timedelta(days=3)
    result = store(
        db,
        settings,
        now=later,
        event_id="E-2",
        business="出入境",
        occurred_at="2026-03-05T10:00:00+08:00",
        closed_at=...,
    )
    assert result.decision == "recently_surveyed"


def test_second_report_of_same_contact_is_duplicate_decision(db, settings):
    """A second event id for the same phone, unit and business the same day: duplicate."""
    store(db, settings)
    result = store(db, settings, event_id="E-2", occurred_at="2026-03-02T10:20:00+08:00")
    assert result.decision == "duplicate"


def test_landline_event_is_not_mobile(db, settings):
    result = store(db, settings, citizen_phone="0571-87654321")
    assert result.decision == "not_mobile"
    event = rows(db, m.ServiceEvent)[0]
    assert event.citizen_phone is None and event.citizen_phone_raw == "0571-87654321"


def test_event_after_hours_is_scheduled_for_next_morning(db, settings):
    """Closed at 21:10 Shanghai time: scheduled 08:00 the next morning, stored in UTC."""
    late = NOW.replace(hour=13, minute=20)  # 21:20 Shanghai
    store(
        db,
        settings,
        now=late,
        occurred_at="2026-03-02T20:30:00+08:00",
        closed_at="2026-03-02T21:10:00+08:00",
    )
    [survey] = rows(db, m.Survey)
    assert survey.scheduled_at == NOW.replace(day=3, hour=0, minute=0)


def test_sub_number_is_the_survey_reply_address_and_sms_source(db, settings):
    from dataclasses import replace

    settings = replace(settings, sub_number_prefix="106900", sub_number_digits=4)
    store(db, settings)
    [survey] = rows(db, m.Survey)
    [sms] = rows(db, m.OutboundMessage)
    assert survey.reply_address == f"106900{survey.id:04d}"
    assert sms.source_addr == survey.reply_address
