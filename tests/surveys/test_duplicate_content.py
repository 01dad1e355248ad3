"""An event_id used again: a resend is a plain duplicate; different content is named, first kept."""

import sqlalchemy as sa

from gateway.events.duplicates import EventContent, differing_fields
from gateway.events.schema import validate_event
from storage import models as m
from storage.events_store import store_event, store_events
from tests.surveys.support import NOW, event_data


def store(db, settings, **changes):
    event = validate_event(event_data(**changes), now=NOW)
    return db.run_sync(store_event, event, source="file", settings=settings, now=NOW)


def test_a_resend_with_the_same_content_is_a_plain_duplicate(db, settings):
    """The same event twice: ``duplicate`` without a reason, nothing to report."""
    store(db, settings)
    again = store(db, settings)
    assert (again.status, again.reason, again.differs) == ("duplicate", None, ())


def test_different_content_under_a_used_id_is_named_and_the_first_kept(db, settings):
    """Another phone and time under the same id: the result says which fields differ, and the
    stored event still has the first one's values (both back-ends)."""
    store(db, settings, citizen_phone="13812345678")
    again = store(
        db, settings, citizen_phone="13900000000", occurred_at="2026-03-02T09:00:00+08:00"
    )
    assert again.status == "duplicate"
    assert again.differs == ("citizen_phone", "occurred_at")
    assert "different citizen_phone, occurred_at; the first event is kept" in again.reason
    stored = db.run_sync(lambda s: s.execute(sa.select(m.ServiceEvent)).scalars().all())
    assert [e.citizen_phone for e in stored] == ["13812345678"]


def test_two_different_events_with_one_id_in_one_batch(db, settings):
    """Inside one batch the second is compared with the first too."""
    first = validate_event(event_data(), now=NOW)
    second = validate_event(event_data(officer_ids=["P002"]), now=NOW)
    results = db.run_sync(store_events, [first, second], source="file", settings=settings, now=NOW)
    assert [r.status for r in results] == ["accepted", "duplicate"]
    assert results[1].differs == ("officer_ids",)


def test_the_comparison_ignores_order_and_spelling_that_reads_the_same():
    """Officers in another order are the same officers."""
    a = EventContent.of(validate_event(event_data(officer_ids=["P001", "P002"]), now=NOW))
    b = EventContent.of(validate_event(event_data(officer_ids=["P002", "P001"]), now=NOW))
    assert differing_fields(a, b) == []
