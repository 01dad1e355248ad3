"""The survey lifecycle in storage: outbox, outcomes, receipts, replies, opt-out, expiry."""

from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from gateway.events.schema import validate_event
from gateway.smpp.api import InboundSms, ReceiptUpdate, SubmitOutcome
from gateway.surveys.classifier import classify
from gateway.surveys.outbox import INTERRUPTED, Recovered
from storage import models as m
from storage import survey_store as ss
from storage.events_store import store_event
from tests.surveys.support import NOW, event_data


def add_event(db, settings, now=NOW, **changes):
    event = validate_event(event_data(**changes), now=now)
    return db.run_sync(store_event, event, source="file", settings=settings, now=now)


def send_all(db, settings, now=NOW, status="submitted"):
    items = db.run_sync(ss.claim_due, now, 100, settings)
    for item in items:
        outcome = SubmitOutcome(item.outbound_id, status, ("m1",), 1, None)
        db.run_sync(ss.record_outcome, outcome, now, settings)
    return items


def survey(db, survey_id=None):
    def get(s):
        q = sa.select(m.Survey).order_by(m.Survey.id)
        rows = s.scalars(q).all()
        return rows[0] if survey_id is None else s.get(m.Survey, survey_id)

    return db.run_sync(get)


def outbound(db, kind=None):
    def get(s):
        q = sa.select(m.OutboundMessage).order_by(m.OutboundMessage.id)
        if kind:
            q = q.where(m.OutboundMessage.kind == kind)
        return s.scalars(q).all()

    return db.run_sync(get)


def reply(db, settings, text, *, phone="8613812345678", to="10690000", at=None):
    at = at or NOW + timedelta(minutes=5)

    def insert(s):
        row = m.InboundMessage(
            source_addr=phone,
            destination_addr=to,
            data_coding=8,
            raw_hex="",
            text=text,
            received_at=at,
        )
        s.add(row)
        s.flush()
        return row.id

    inbound_id = db.run_sync(insert)
    inbound = InboundSms(inbound_id, phone, to, text, False, at)
    return db.run_sync(ss.apply_reply, inbound, classify(text), settings, at)


def test_due_survey_is_claimed_and_sent(db, settings):
    """A due survey SMS is claimed once; submitted → survey sent with its reply window."""
    add_event(db, settings)
    [item] = send_all(db, settings)
    assert item.destination == "13812345678" and item.kind == "survey"
    s = survey(db)
    assert (s.status, s.sent_at, s.expires_at) == ("sent", NOW, NOW + timedelta(hours=72))
    assert db.run_sync(ss.claim_due, NOW, 100, settings) == []


def test_sms_not_yet_due_is_not_claimed(db, settings):
    add_event(db, settings)
    assert db.run_sync(ss.claim_due, NOW - timedelta(minutes=1), 100, settings) == []
    assert db.run_sync(ss.next_due_at, NOW - timedelta(minutes=1)) == NOW


def test_survey_outside_sending_hours_is_rescheduled_not_sent(db, settings):
    """At 22:00 Shanghai a due survey waits for 08:00 the next morning."""
    add_event(db, settings)
    night = NOW.replace(hour=14)  # 22:00 Shanghai
    assert db.run_sync(ss.claim_due, night, 100, settings) == []
    [sms] = outbound(db)
    assert sms.status == "queued"
    assert sms.next_attempt_at == NOW.replace(day=3, hour=0)


def test_failed_submit_fails_the_survey_with_reason(db, settings):
    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings)
    outcome = SubmitOutcome(item.outbound_id, "failed", (), 1, "ESME_RINVDSTADR")
    db.run_sync(ss.record_outcome, outcome, NOW, settings)
    s = survey(db)
    assert (s.status, s.failure_reason) == ("failed", "ESME_RINVDSTADR")


def _mark_wired(db, outbound_id, at=NOW):
    """What the SMPP store commits just before the first submit_sm's bytes are written."""
    from storage.sms_store import _mark_wired

    db.run_sync(_mark_wired, [(outbound_id, at)])


def test_interrupted_submit_written_to_the_wire_is_marked_unknown_never_resent(db, settings):
    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings, "gw-a")
    _mark_wired(db, item.outbound_id)
    assert db.run_sync(ss.recover_interrupted, NOW, settings, "gw-a") == Recovered(0, 1)
    [sms] = outbound(db)
    assert (sms.status, sms.error) == ("unknown", INTERRUPTED[1])
    assert survey(db).status == "sent"
    assert db.run_sync(ss.claim_due, NOW, 100, settings) == []


def test_interrupted_claim_never_written_is_queued_again_and_sent_once(db, settings):
    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings, "gw-a")
    later = NOW + timedelta(minutes=1)
    assert db.run_sync(ss.recover_interrupted, later, settings, "gw-a") == Recovered(1, 0)
    [sms] = outbound(db)
    assert (sms.status, sms.attempts, sms.claimed_by, sms.wire_at) == ("queued", 0, None, None)
    assert survey(db).status == "pending"
    [again] = db.run_sync(ss.claim_due, later, 100, settings, "gw-a")
    assert again.outbound_id == item.outbound_id
    assert outbound(db)[0].attempts == 1


def test_recovery_settles_only_this_instances_claims(db, settings):
    """Two processes share the outbox: a restarted one leaves the other's SMS in flight."""
    add_event(db, settings, event_id="E-1", citizen_phone="13800000001")
    add_event(db, settings, event_id="E-2", citizen_phone="13800000002")
    [a] = db.run_sync(ss.claim_due, NOW, 1, settings, "gw-a")
    [b] = db.run_sync(ss.claim_due, NOW, 1, settings, "gw-b")
    _mark_wired(db, b.outbound_id)
    assert db.run_sync(ss.recover_interrupted, NOW, settings, "gw-a") == Recovered(1, 0)
    rows = {row.id: row for row in outbound(db)}
    assert rows[a.outbound_id].status == "queued"
    assert (rows[b.outbound_id].status, rows[b.outbound_id].claimed_by) == ("submitting", "gw-b")
    assert db.run_sync(ss.recover_interrupted, NOW, settings, "gw-b") == Recovered(0, 1)
    assert outbound(db)[1].status == "unknown"


def test_released_at_a_stop_is_claimed_again_by_any_process_and_sent_once(db, settings):
    """A graceful stop gives back a claim it never wrote (its mark committed ahead): the
    survey stays pending, the restarted process has nothing to recover, and the next claim,
    by this process or another, takes it once."""
    from storage.survey_outbox import release_unsent

    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings, "gw-a")
    _mark_wired(db, item.outbound_id)
    assert db.run_sync(release_unsent, [item.outbound_id], NOW) == 1
    [sms] = outbound(db)
    assert (sms.status, sms.attempts, sms.claimed_by, sms.wire_at) == ("queued", 0, None, None)
    assert survey(db).status == "pending"
    assert db.run_sync(ss.recover_interrupted, NOW, settings, "gw-a") == Recovered(0, 0)
    [again] = db.run_sync(ss.claim_due, NOW, 100, settings, "gw-b")
    assert again.outbound_id == item.outbound_id
    assert db.run_sync(ss.claim_due, NOW, 100, settings, "gw-a") == []
    assert (outbound(db)[0].claimed_by, outbound(db)[0].attempts) == ("gw-b", 1)


def test_a_claim_marks_as_many_as_asked_and_recovery_tells_them_apart(db, settings):
    """The claim commits the wire marks of the first ``mark`` SMS it hands over (slots the
    SMPP client reserved): after a crash those may have gone (unknown), the rest never did
    (queued again); a graceful stop gives back the marked ones it never wrote."""
    from storage.survey_outbox import release_unsent

    for i in range(1, 5):
        add_event(db, settings, event_id=f"E-{i}", citizen_phone=f"1380000000{i}")
    items = db.run_sync(ss.claim_due, NOW, 3, settings, "gw-a", mark=2)
    assert [item.wired for item in items] == [True, True, False]
    rows = {row.id: row for row in outbound(db)}
    assert [rows[item.outbound_id].wire_at for item in items] == [NOW, NOW, None]
    assert db.run_sync(release_unsent, [items[1].outbound_id], NOW) == 1
    assert db.run_sync(ss.recover_interrupted, NOW, settings, "gw-a") == Recovered(1, 1)
    rows = {row.id: row for row in outbound(db)}
    assert rows[items[0].outbound_id].status == "unknown"
    assert [rows[i.outbound_id].status for i in items[1:]] == ["queued", "queued"]
    assert rows[items[1].outbound_id].wire_at is None
    again = db.run_sync(ss.claim_due, NOW, 100, settings, "gw-a")
    assert not any(item.wired for item in again)  # no marks asked: none committed
    assert all(row.wire_at is None for row in outbound(db) if row.status == "submitting")


def test_wire_mark_keeps_the_first_time(db, settings):
    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings, "gw-a")
    _mark_wired(db, item.outbound_id, NOW)
    _mark_wired(db, item.outbound_id, NOW + timedelta(seconds=5))
    assert outbound(db)[0].wire_at == NOW


def _smpp_store_wrote(db, outbound_id, status):
    """What the SMPP store commits before the pipeline hears of an outcome or a receipt."""

    def write(s):
        s.get(m.OutboundMessage, outbound_id).status = status

    db.run_sync(write)


def test_receipt_that_overtook_the_outcome_commit_still_delivers_the_survey(db, settings):
    """A receipt applied before its SMS's outcome delivers the survey at once; the outcome
    adds sent_at and its reply window."""
    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings)
    _smpp_store_wrote(db, item.outbound_id, "delivered")
    update = ReceiptUpdate(item.outbound_id, "m1", "DELIVRD", "delivered")
    assert db.run_sync(ss.apply_receipt, update, NOW) == "delivered"
    outcome = SubmitOutcome(item.outbound_id, "submitted", ("m1",), 1, None)
    db.run_sync(ss.record_outcome, outcome, NOW, settings)
    s = survey(db)
    assert (s.status, s.sent_at, s.delivered_at) == ("delivered", NOW, NOW)
    assert s.expires_at == NOW + settings.reply_window


def test_undeliverable_receipt_before_the_outcome_commit_ends_undeliverable(db, settings):
    """An undeliverable receipt applied before the outcome is not undone by it."""
    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings)
    _smpp_store_wrote(db, item.outbound_id, "undeliverable")
    update = ReceiptUpdate(item.outbound_id, "m1", "UNDELIV", "undeliverable")
    db.run_sync(ss.apply_receipt, update, NOW)
    outcome = SubmitOutcome(item.outbound_id, "submitted", ("m1",), 1, None)
    db.run_sync(ss.record_outcome, outcome, NOW, settings)
    assert survey(db).status == "undeliverable"


def test_survey_whose_outcome_a_crash_kept_from_commit_is_settled_at_start(db, settings):
    """The SMPP store committed the SMS's outcome; the process died before the survey's."""
    for i in range(3):
        add_event(db, settings, event_id=f"E-{i}", citizen_phone=f"1380000000{i}")
    items = db.run_sync(ss.claim_due, NOW, 100, settings)
    for item, status in zip(items, ("submitted", "delivered", "failed"), strict=True):
        _smpp_store_wrote(db, item.outbound_id, status)
    later = NOW + timedelta(minutes=5)
    assert db.run_sync(ss.recover_interrupted, later, settings) == Recovered()  # none left
    statuses = [survey(db, item.survey_id).status for item in items]
    assert statuses == ["sent", "delivered", "failed"]
    assert survey(db, items[0].survey_id).sent_at == later
    assert db.run_sync(ss.recover_interrupted, later, settings) == Recovered()
    assert [survey(db, item.survey_id).status for item in items] == statuses


def test_receipts_move_survey_to_delivered_or_undeliverable(db, settings):
    add_event(db, settings)
    add_event(db, settings, event_id="E-2", citizen_phone="13900000000")
    a, b = send_all(db, settings)
    db.run_sync(ss.apply_receipt, ReceiptUpdate(a.outbound_id, "m", "DELIVRD", "delivered"), NOW)
    db.run_sync(
        ss.apply_receipt, ReceiptUpdate(b.outbound_id, "m", "UNDELIV", "undeliverable"), NOW
    )
    assert survey(db, a.survey_id).status == "delivered"
    assert survey(db, a.survey_id).delivered_at == NOW
    assert survey(db, b.survey_id).status == "undeliverable"


def test_satisfied_reply_rates_survey_and_queues_thank_you(db, settings):
    add_event(db, settings)
    send_all(db, settings)
    outcome = reply(db, settings, "１ 谢谢民警")
    assert (outcome.match_status, outcome.rating) == ("matched", "satisfied")
    s = survey(db)
    assert (s.status, s.rating, s.comment) == ("replied", "satisfied", "谢谢民警")
    [thanks] = outbound(db, "thank_you")
    assert thanks.destination == "13812345678" and thanks.status == "queued"


def test_unsatisfied_reply_creates_callback_task_in_same_transaction(db, settings):
    add_event(db, settings)
    send_all(db, settings)
    outcome = reply(db, settings, "3 接警太慢")
    [task] = db.run_sync(lambda s: s.scalars(sa.select(m.CallbackTask)).all())
    assert outcome.callback_task_id == task.id
    assert (task.trigger, task.status, task.phone) == ("unsatisfied", "pending", "13812345678")
    assert "回访" in outbound(db, "thank_you")[0].text


def test_first_valid_rating_wins_later_replies_are_comments(db, settings):
    add_event(db, settings)
    send_all(db, settings)
    reply(db, settings, "1")
    later = reply(db, settings, "3 其实不满意", at=NOW + timedelta(minutes=9))
    assert later.match_status == "comment"
    s = survey(db)
    assert s.rating == "satisfied"
    assert s.comment == "3 其实不满意"
    assert len(outbound(db, "thank_you")) == 1


def test_unknown_reply_gets_one_clarifying_sms_only(db, settings):
    add_event(db, settings)
    send_all(db, settings)
    assert reply(db, settings, "什么意思").queued == ["clarify"]
    assert reply(db, settings, "？？").queued == []
    assert len(outbound(db, "clarify")) == 1
    assert reply(db, settings, "2").rating == "basically_satisfied"


def test_opt_out_takes_effect_at_once_and_is_confirmed_once(db, settings):
    """TD: opt-out stored, queued SMS to the number cancelled, one confirmation queued."""
    add_event(db, settings)
    send_all(db, settings)
    add_event(db, settings, event_id="E-2", business="出入境", tags=[])  # recently_surveyed
    outcome = reply(db, settings, "TD")
    assert outcome.queued == ["opt_out_confirm"]
    assert reply(db, settings, "退订").queued == []
    assert db.run_sync(lambda s: s.get(m.OptOut, "13812345678")) is not None
    [confirm] = outbound(db, "opt_out_confirm")
    assert "退订" in confirm.text


def test_opted_out_number_gets_no_queued_survey(db, settings):
    """A survey queued for later is opted out when its number opts out before it is sent."""
    add_event(db, settings, closed_at="2026-03-02T11:50:00+08:00")  # due 12:20
    reply(db, settings, "TD")
    s = survey(db)
    assert (s.status, s.failure_reason) == ("opted_out", "opted out by another message")
    items = db.run_sync(ss.claim_due, NOW + timedelta(hours=1), 100, settings)
    assert [i.kind for i in items] == ["opt_out_confirm"]


def test_reply_matching_nothing_is_kept_unmatched(db, settings):
    outcome = reply(db, settings, "1", phone="13700000000")
    assert outcome.match_status == "unmatched"
    [row] = db.run_sync(lambda s: s.scalars(sa.select(m.InboundMessage)).all())
    assert (row.match_status, row.rating, row.survey_id) == ("unmatched", "satisfied", None)


def test_reply_after_window_is_unmatched(db, settings):
    add_event(db, settings)
    send_all(db, settings)
    outcome = reply(db, settings, "1", at=NOW + timedelta(hours=73))
    assert outcome.match_status == "unmatched"


def test_reply_matches_most_recent_survey_to_the_phone(db, settings):
    settings = replace(settings, recently_surveyed_days=1)
    add_event(db, settings)
    send_all(db, settings)
    later = NOW + timedelta(days=2)
    add_event(
        db,
        settings,
        now=later,
        event_id="E-2",
        occurred_at="2026-03-04T10:00:00+08:00",
        closed_at="2026-03-04T11:00:00+08:00",
    )
    send_all(db, settings, now=later)
    outcome = reply(db, settings, "2", at=later + timedelta(minutes=1))
    assert outcome.survey_id == survey(db).id + 1


def test_sub_number_reply_matches_by_the_number_replied_to(db, settings):
    """Two open surveys to one phone: the reply goes to the one whose sub-number it was sent to."""
    settings = replace(settings, sub_number_prefix="106900", recently_surveyed_days=1)
    add_event(db, settings)
    first = survey(db)
    send_all(db, settings)
    later = NOW + timedelta(days=2)
    add_event(
        db,
        settings,
        now=later,
        event_id="E-2",
        occurred_at="2026-03-04T10:00:00+08:00",
        closed_at="2026-03-04T11:00:00+08:00",
    )
    send_all(db, settings, now=later)
    outcome = reply(db, settings, "3", to=first.reply_address, at=later + timedelta(minutes=1))
    assert outcome.survey_id == first.id


def test_reply_processed_twice_is_applied_once(db, settings):
    add_event(db, settings)
    send_all(db, settings)
    first = reply(db, settings, "3")
    row_id = first.inbound_id
    inbound = InboundSms(row_id, "13812345678", "1069", "3", False, NOW)
    again = db.run_sync(ss.apply_reply, inbound, classify("3"), settings, NOW)
    assert again.match_status == "duplicate"
    assert len(db.run_sync(lambda s: s.scalars(sa.select(m.CallbackTask)).all())) == 1


def test_unanswered_survey_expires_after_reply_window(db, settings):
    add_event(db, settings)
    send_all(db, settings)
    assert db.run_sync(ss.expire_surveys, NOW + timedelta(hours=71), settings) == 0
    assert db.run_sync(ss.expire_surveys, NOW + timedelta(hours=72), settings) == 1
    assert survey(db).status == "expired"


def test_longest_names_feed_the_part_count_check(db, settings):
    """The longest unit name in the registry is what the start-up check renders with."""
    from gateway.surveys.templates import check_templates

    unit, business = db.run_sync(ss.longest_names)
    assert unit == "某某市公安局"  # the longest of the seeded names
    assert len(business) >= 8
    long_unit = "某某省某某市公安局某某分局某某街道某某派出所"
    assert check_templates(settings, longest_unit=long_unit, longest_business=business)


def test_reply_overtaking_the_submit_outcome_still_matches(db, settings):
    """A reply stored before the submit_sm_resp was committed rates the survey it answers,
    and the late outcome then records when the SMS went out without undoing the rating."""
    settings = replace(settings, sub_number_prefix="106900")
    add_event(db, settings)
    [item] = db.run_sync(ss.claim_due, NOW, 100, settings)  # handed to the SMSC, no outcome yet
    pending = survey(db)
    assert (pending.status, pending.sent_at) == ("pending", None)
    outcome = reply(db, settings, "3 接警太慢", to=pending.reply_address)
    assert (outcome.match_status, outcome.survey_id) == ("matched", pending.id)
    late = SubmitOutcome(item.outbound_id, "submitted", ("m1",), 1, None)
    db.run_sync(ss.record_outcome, late, NOW, settings)
    rated = survey(db)
    assert (rated.status, rated.rating, rated.sent_at) == ("replied", "unsatisfied", NOW)


def test_reply_to_a_survey_not_yet_handed_to_the_smsc_is_unmatched(db, settings):
    """A survey still waiting in the outbox cannot have been answered."""
    add_event(db, settings)
    outcome = reply(db, settings, "1")
    assert outcome.match_status == "unmatched"


def stored_replies(db, texts, *, phone="8613812345678", to="10690000", at=None):
    """Store several replies and hand them back as one batch, in arrival order."""
    at = at or NOW + timedelta(minutes=5)

    def insert(s):
        rows = [
            m.InboundMessage(
                source_addr=phone,
                destination_addr=to,
                data_coding=8,
                raw_hex="",
                text=text,
                received_at=at,
            )
            for text in texts
        ]
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]

    ids = db.run_sync(insert)
    return [
        (InboundSms(i, phone, to, text, False, at), classify(text))
        for i, text in zip(ids, texts, strict=True)
    ]


def test_one_batch_applies_a_phones_replies_in_arrival_order(db, settings):
    """In one batch: unknown → one clarify, then the rating wins, then a comment follows."""
    add_event(db, settings)
    send_all(db, settings)
    batch = stored_replies(db, ["你好", "什么", "2", "1 很好"])
    outcomes = db.run_sync(ss.apply_replies, batch, settings, NOW + timedelta(minutes=6))
    assert [o.match_status for o in outcomes] == ["matched", "matched", "matched", "comment"]
    assert [o.queued for o in outcomes] == [["clarify"], [], ["thank_you"], []]
    s = survey(db)
    assert (s.status, s.rating, s.comment) == ("replied", "basically_satisfied", "1 很好")
    assert [o.kind for o in outbound(db)] == ["survey", "clarify", "thank_you"]


def test_one_batch_with_a_rating_then_an_opt_out_stops_what_it_queued(db, settings):
    """Unsatisfied then TD in one batch: the thank-you and callback stop; one confirmation."""
    add_event(db, settings)
    send_all(db, settings)
    batch = stored_replies(db, ["3", "TD", "退订"])
    outcomes = db.run_sync(ss.apply_replies, batch, settings, NOW + timedelta(minutes=6))
    assert [o.match_status for o in outcomes] == ["matched", "opt_out", "opt_out"]
    assert [o.queued for o in outcomes] == [["thank_you"], ["opt_out_confirm"], []]
    kinds = {o.kind: (o.status, o.error) for o in outbound(db)}
    assert "thank_you" not in kinds
    assert kinds["opt_out_confirm"] == ("queued", None)
    [task] = db.run_sync(lambda s: s.scalars(sa.select(m.CallbackTask)).all())
    assert (task.id, task.status) == (outcomes[0].callback_task_id, "opted_out")
    assert survey(db).rating == "unsatisfied"


def test_the_same_reply_twice_in_one_batch_is_applied_once(db, settings):
    """A redelivered reply in the same batch is a duplicate: one rating, one thank-you."""
    add_event(db, settings)
    send_all(db, settings)
    [item] = stored_replies(db, ["1"])
    outcomes = db.run_sync(ss.apply_replies, [item, item], settings, NOW + timedelta(minutes=6))
    assert [o.match_status for o in outcomes] == ["matched", "duplicate"]
    assert [o.kind for o in outbound(db)] == ["survey", "thank_you"]


def test_receipt_batch_mixes_surveys_other_sms_and_repeats(db, settings):
    for i in range(3):
        add_event(db, settings, event_id=f"E-{i}", citizen_phone=f"1380000000{i}")
    a, b, c = send_all(db, settings)
    reply(db, settings, "1", phone="13800000002")  # c is replied: a late receipt leaves it
    [thanks] = outbound(db, "thank_you")
    updates = [
        ReceiptUpdate(b.outbound_id, "m", "UNDELIV", "undeliverable"),
        ReceiptUpdate(a.outbound_id, "m", "ENROUTE", None),  # not final: no change
        ReceiptUpdate(a.outbound_id, "m", "DELIVRD", "delivered"),
        ReceiptUpdate(a.outbound_id, "m", "DELIVRD", "delivered"),  # duplicate
        ReceiptUpdate(thanks.id, "m", "DELIVRD", "delivered"),  # not a survey SMS
        ReceiptUpdate(c.outbound_id, "m", "DELIVRD", "delivered"),
        ReceiptUpdate(None, "m", "DELIVRD", None),  # matched no SMS
    ]
    results = db.run_sync(ss.apply_receipts, updates, NOW, settings)
    assert results == [
        "undeliverable",
        None,
        "delivered",
        "delivered",
        None,
        "replied",
        None,
    ]
    assert survey(db, a.survey_id).delivered_at == NOW
    assert survey(db, b.survey_id).failure_reason == "receipt UNDELIV"
    assert survey(db, c.survey_id).status == "replied"


def test_the_same_reply_in_two_concurrent_batches_is_acted_on_once(pg_url, settings):
    """The start-up sweep and a live delivery may hand over one reply at the same moment:
    the second batch waits for the first one's lock and reads its verdict."""
    import threading

    from tests.surveys.support import make_db

    db = make_db(pg_url)
    try:
        add_event(db, settings)
        send_all(db, settings)
        [(inbound, reading)] = stored_replies(db, ["3 态度差"])
        first = db.sessions()
        first.begin()
        outcome_a = ss.apply_reply(first, inbound, reading, settings, NOW)  # holds the locks
        results = []
        second = threading.Thread(
            target=lambda: results.append(
                db.run_sync(ss.apply_reply, inbound, reading, settings, NOW)
            )
        )
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waiting for the first batch's lock
        first.commit()
        first.close()
        second.join(10)
        [outcome_b] = results
        assert (outcome_a.match_status, outcome_b.match_status) == ("matched", "duplicate")
        assert len(outbound(db, "thank_you")) == 1
        tasks = db.run_sync(lambda s: s.scalars(sa.select(m.CallbackTask)).all())
        assert len(tasks) == 1
    finally:
        db.stop()


def test_receipt_applied_while_the_outcome_batch_waits_for_its_lock_still_delivers(
    pg_url, settings
):
    """The race seen once in 100,000 through the real link: the outcome batch starts, the SMPP
    store commits the SMS's receipt, the receipt batch delivers the still pending survey,
    then the outcome batch gets its lock. The survey must end delivered."""
    import threading

    from sqlalchemy import event

    from tests.surveys.support import make_db

    db = make_db(pg_url)
    try:
        add_event(db, settings)
        [item] = db.run_sync(ss.claim_due, NOW, 100, settings)
        _smpp_store_wrote(db, item.outbound_id, "submitted")
        update = ReceiptUpdate(item.outbound_id, "m1", "DELIVRD", "delivered")
        receipt_results = []

        def receipt_lands_first():
            _smpp_store_wrote(db, item.outbound_id, "delivered")
            receipt_results.append(db.run_sync(ss.apply_receipt, update, NOW))

        session = db.sessions()
        connection = session.connection()
        fired = []

        @event.listens_for(connection, "before_cursor_execute")
        def before(conn, cursor, statement, params, context, executemany):
            if "FOR UPDATE" in statement and not fired:
                fired.append(1)
                other = threading.Thread(target=receipt_lands_first)
                other.start()
                other.join(10)

        outcome = SubmitOutcome(item.outbound_id, "submitted", ("m1",), 1, None)
        ss.record_outcomes(session, [outcome], NOW, settings)
        session.commit()
        session.close()
        assert fired and receipt_results == ["delivered"]
        assert survey(db).status == "delivered"
    finally:
        db.stop()


def test_export_gives_the_sms_rating_and_a_non_responders_voice_rating(db, settings):
    add_event(db, settings, event_id="E-SMS", citizen_phone="13800000001")
    add_event(db, settings, event_id="E-VOICE", citizen_phone="13800000002")
    add_event(db, settings, event_id="E-NONE", citizen_phone="13800000003")
    send_all(db, settings)
    reply(db, settings, "3 接警太慢", phone="13800000001")

    def non_response_callbacks(s):
        for phone, rating in (("13800000002", "basically_satisfied"), ("13800000003", None)):
            sv = s.scalars(
                sa.select(m.Survey)
                .join(m.ServiceEvent, m.ServiceEvent.id == m.Survey.event_id)
                .where(m.ServiceEvent.citizen_phone == phone)
            ).one()
            s.add(
                m.CallbackTask(
                    survey_id=sv.id,
                    unit_id=sv.event.unit_id,
                    phone=phone,
                    trigger="non_response",
                    status="completed" if rating else "no_answer",
                    rating=rating,
                )
            )

    db.run_sync(non_response_callbacks)
    records = {r["event_id"]: r for r in db.run_sync(lambda s: list(ss.survey_records(s)))}
    assert list(records["E-SMS"]) == list(ss.EXPORT_FIELDS)
    assert (records["E-SMS"]["rating"], records["E-SMS"]["voice_rating"]) == ("unsatisfied", None)
    assert (records["E-VOICE"]["rating"], records["E-VOICE"]["voice_rating"]) == (
        None,
        "basically_satisfied",
    )
    assert records["E-NONE"]["voice_rating"] is None
    assert len(records) == 3  # the outer join adds no rows


def test_a_reply_batch_is_never_jit_compiled_on_postgresql(db, settings):
    """The candidates' query is estimated above jit_above_cost on tables without statistics;
    compiling it cost 60-120 ms a batch for a 6 ms query (docs/benchmarks.md, fifth round)."""
    add_event(db, settings)
    send_all(db, settings)
    at = NOW + timedelta(minutes=5)

    def rated_then_jit(s):
        row = m.InboundMessage(
            source_addr="8613812345678",
            destination_addr="10690000",
            data_coding=8,
            raw_hex="",
            text="1",
            received_at=at,
        )
        s.add(row)
        s.flush()
        inbound = InboundSms(row.id, row.source_addr, row.destination_addr, "1", False, at)
        [outcome] = ss.apply_replies(s, [(inbound, classify("1"))], settings, at)
        jit = s.scalar(sa.text("SHOW jit")) if s.get_bind().dialect.name == "postgresql" else None
        return outcome.match_status, jit

    status, jit = db.run_sync(rated_then_jit)
    assert status == "matched"
    assert jit in (None, "off")
