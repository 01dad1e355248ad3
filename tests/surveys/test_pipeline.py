"""The pipeline service against a fake SMPP service: sending hours with Clock, replies, receipts."""

from datetime import timedelta

import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.task import Clock

from gateway.smpp.api import InboundSms, ReceiptUpdate
from gateway.surveys.intake import EventIntake
from gateway.surveys.pipeline import SurveyPipeline
from storage import models as m
from storage.events_store import SqlEventStore
from storage.survey_store import SqlSurveyStore
from tests.surveys.fake_smpp import FakeSmppService
from tests.surveys.support import NOW, event_data


def clock_at(moment):
    clock = Clock()
    clock.advance(moment.timestamp())
    return clock


def started(db, settings, clock, smpp):
    pipeline = SurveyPipeline(db, smpp, settings, store=SqlSurveyStore(), clock=clock)
    intake = EventIntake(db, settings, store=SqlEventStore(), clock=clock, on_queued=pipeline.kick)
    pipeline.startService()
    return pipeline, intake


def stored_reply(db, text, phone="13812345678", at=NOW):
    def insert(s):
        row = m.InboundMessage(
            source_addr=phone, destination_addr="1069", data_coding=8, raw_hex="", text=text
        )
        row.received_at = at
        s.add(row)
        s.flush()
        return row.id

    return InboundSms(db.run_sync(insert), phone, "1069", text, False, at)


@pytest_twisted.inlineCallbacks
def test_event_in_hours_is_sent_once_due(sqlite_db, settings):
    """Ingested at 11:10 after closing at 11:00: the SMS goes at 11:30, not before."""
    clock = clock_at(NOW - timedelta(minutes=50))  # 11:10 Shanghai
    smpp = FakeSmppService()
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    yield pipeline.idle()
    assert smpp.submitted == []
    clock.advance(20 * 60)
    yield pipeline.idle()
    [sms] = smpp.submitted
    assert sms.destination == "13812345678" and "【某某公安】" in sms.text
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_quiet_hours_wait_for_the_morning_window(sqlite_db, settings):
    """Closed at 21:00: nothing at night; the SMS goes at 08:00 the next morning."""
    clock = clock_at(NOW.replace(hour=13, minute=5))  # 21:05 Shanghai
    smpp = FakeSmppService()
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    data = event_data(
        occurred_at="2026-03-02T20:00:00+08:00", closed_at="2026-03-02T21:00:00+08:00"
    )
    yield intake.ingest_body(repr_json(data), "http")
    for step in [3600] * 10 + [54 * 60]:  # 21:05 → 07:59, the timer firing on the way
        clock.advance(step)
        yield pipeline.idle()
    assert smpp.submitted == []
    clock.advance(60)  # 08:00
    yield pipeline.idle()
    assert len(smpp.submitted) == 1
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_nothing_is_sent_while_smpp_is_unavailable(sqlite_db, settings):
    clock = clock_at(NOW)
    smpp = FakeSmppService(available=False)
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    clock.advance(60)
    yield pipeline.idle()
    assert smpp.submitted == []
    smpp.set_available(True)
    yield pipeline.idle()
    assert len(smpp.submitted) == 1
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_unsatisfied_reply_gives_callback_task_and_thank_you_sms(sqlite_db, settings):
    clock = clock_at(NOW)
    smpp = FakeSmppService()
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    woken = []
    pipeline.callback_observers.append(lambda: woken.append(True))
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    yield pipeline.idle()
    [survey_sms] = smpp.submitted
    smpp.deliver_receipt(ReceiptUpdate(survey_sms.outbound_id, "m", "DELIVRD", "delivered"))
    yield pipeline.idle()
    assert woken == []
    smpp.deliver_reply(stored_reply(sqlite_db, "不满意，民警态度生硬"))
    yield pipeline.idle()
    assert woken == [True]  # the daemon's callback scheduler is woken at once
    assert [s.text for s in smpp.submitted[1:]] == [
        "【某某公安】感谢您的评价，我们将尽快回访了解情况，请留意来电。"
    ]
    survey = sqlite_db.run_sync(lambda s: s.scalars(sa.select(m.Survey)).one())
    assert (survey.status, survey.rating, survey.comment) == (
        "replied",
        "unsatisfied",
        "民警态度生硬",
    )
    assert survey.delivered_at == NOW
    tasks = sqlite_db.run_sync(lambda s: s.scalars(sa.select(m.CallbackTask)).all())
    assert [t.trigger for t in tasks] == ["unsatisfied"]
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_in_flight_submits_are_capped(sqlite_db, settings):
    """No more than ``outbox_in_flight`` SMS are handed to SMPP before outcomes come back."""
    from dataclasses import replace

    settings = replace(settings, outbox_in_flight=2)
    clock = clock_at(NOW)
    smpp = FakeSmppService(auto=None)
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    for i in range(5):
        data = event_data(event_id=f"E-{i}", citizen_phone=f"1380000000{i}")
        yield intake.ingest_body(repr_json(data), "amqp")
    yield pipeline.idle()
    assert len(smpp.submitted) == 2
    for outbound_id in list(smpp.waiting):
        smpp.answer(outbound_id)
    yield pipeline.idle()
    assert len(smpp.submitted) == 4
    for outbound_id in list(smpp.waiting):
        smpp.answer(outbound_id)
    yield pipeline.idle()
    assert len(smpp.submitted) == 5
    smpp.answer(next(iter(smpp.waiting)))
    yield pipeline.idle()
    sent = sqlite_db.run_sync(
        lambda s: s.scalars(sa.select(m.Survey.status).where(m.Survey.status == "sent")).all()
    )
    assert len(sent) == 5
    yield pipeline.stopService()


@defer.inlineCallbacks
def ingest_events(intake, n):
    """``n`` events of ``n`` citizens, through the AMQP door."""
    for i in range(n):
        data = event_data(event_id=f"E-{i}", citizen_phone=f"138000000{i:02d}")
        yield intake.ingest_body(repr_json(data), "amqp")


def repr_json(data):
    import json

    return json.dumps(data, ensure_ascii=False).encode()


@pytest_twisted.inlineCallbacks
def test_events_arriving_together_share_a_transaction(sqlite_db, settings):
    """Group commit: while a store is in flight, later events wait and go in one transaction."""
    import json

    runs = []
    original = sqlite_db.run

    def counting_run(fn, *args, **kwargs):
        runs.append(fn)
        return original(fn, *args, **kwargs)

    sqlite_db.run = counting_run
    intake = EventIntake(
        sqlite_db, settings, store=SqlEventStore(), clock=clock_at(NOW), max_concurrent_batches=1
    )
    bodies = [
        json.dumps(event_data(event_id=f"G-{i}", citizen_phone=f"1390000000{i}")).encode()
        for i in range(6)
    ]
    results = yield defer.gatherResults([intake.ingest_body(b, "amqp") for b in bodies])
    assert [r.status for r in results] == ["accepted"] * 6
    assert len(runs) == 2  # the first event alone, then the five that waited for it


class HeldCommits:
    """Stands in for the outcome group commit: holds every outcome until the test commits it."""

    def __init__(self, real):
        self.real = real
        self.held: list[tuple[object, defer.Deferred]] = []

    def submit(self, outcome):
        d = defer.Deferred()
        self.held.append((outcome, d))
        return d

    @defer.inlineCallbacks
    def idle(self, pipeline):
        """The pipeline's database work done, except the outcomes held here."""
        while rest := pipeline._pending - {d for _, d in self.held}:
            yield defer.DeferredList(list(rest))

    @defer.inlineCallbacks
    def commit_all(self):
        held, self.held = self.held, []
        for outcome, d in held:
            yield self.real.submit(outcome)
            d.callback(None)


@pytest_twisted.inlineCallbacks
def test_an_answered_sms_frees_its_slot_before_the_survey_state_commits(sqlite_db, settings):
    """The SMPP slot is for SMS the SMSC has not answered; a slow survey commit must not
    hold it, but the answered-uncommitted backlog is bounded too."""
    from dataclasses import replace

    from gateway.surveys.pipeline import OUTCOME_BACKLOG_FACTOR

    settings = replace(settings, outbox_in_flight=1)
    clock = clock_at(NOW)
    smpp = FakeSmppService(auto=None)
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    held = HeldCommits(pipeline._outcomes)
    pipeline._outcomes = held
    for i in range(6):
        data = event_data(event_id=f"E-{i}", citizen_phone=f"1380000000{i}")
        yield intake.ingest_body(repr_json(data), "amqp")
    yield held.idle(pipeline)
    assert len(smpp.submitted) == 1
    answered = 0
    while smpp.waiting:
        smpp.answer(next(iter(smpp.waiting)))
        answered += 1
        yield held.idle(pipeline)
    # one slot, but the next SMS went as soon as the previous one was answered, until the
    # backlog of uncommitted outcomes reached its bound (the one in flight counts too)
    assert len(held.held) == answered == OUTCOME_BACKLOG_FACTOR
    assert len(smpp.submitted) == OUTCOME_BACKLOG_FACTOR
    yield held.commit_all()
    yield held.idle(pipeline)
    assert len(smpp.submitted) == OUTCOME_BACKLOG_FACTOR + 1
    while smpp.waiting or held.held:
        for outbound_id in list(smpp.waiting):
            smpp.answer(outbound_id)
        yield held.commit_all()
        yield held.idle(pipeline)
    statuses = sqlite_db.run_sync(lambda s: s.scalars(sa.select(m.Survey.status)).all())
    assert statuses == ["sent"] * 6
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_reply_stored_before_a_restart_is_processed_at_start(sqlite_db, settings):
    clock = clock_at(NOW)
    smpp = FakeSmppService()
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    yield pipeline.idle()
    yield pipeline.stopService()
    reply = stored_reply(sqlite_db, "3 等得太久")  # stored by SMPP while the pipeline was down
    pipeline = SurveyPipeline(sqlite_db, smpp, settings, store=SqlSurveyStore(), clock=clock)
    pipeline.startService()
    yield pipeline.idle()
    survey = sqlite_db.run_sync(lambda s: s.scalars(sa.select(m.Survey)).one())
    assert (survey.status, survey.rating, survey.comment) == ("replied", "unsatisfied", "等得太久")
    row = sqlite_db.run_sync(lambda s: s.get(m.InboundMessage, reply.inbound_id))
    assert row.match_status == "matched"
    tasks = sqlite_db.run_sync(lambda s: s.scalars(sa.select(m.CallbackTask)).all())
    assert len(tasks) == 1
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_reply_whose_batch_failed_is_retried_later(sqlite_db, settings, monkeypatch):
    from gateway.surveys import pipeline as pipeline_module
    from storage import survey_store

    clock = clock_at(NOW)
    smpp = FakeSmppService()
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    yield pipeline.idle()
    real = survey_store.apply_replies
    failures = []

    def failing_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(SqlSurveyStore, "apply_replies", staticmethod(failing_once))
    smpp.deliver_reply(stored_reply(sqlite_db, "1"))
    yield pipeline.idle()
    assert failures == [1]
    survey = sqlite_db.run_sync(lambda s: s.scalars(sa.select(m.Survey)).one())
    assert survey.status == "sent"
    clock.advance(pipeline_module.REPLY_RETRY_SECONDS)
    yield pipeline.idle()
    survey = sqlite_db.run_sync(lambda s: s.scalars(sa.select(m.Survey)).one())
    assert (survey.status, survey.rating) == ("replied", "satisfied")
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_reply_windows_are_closed_by_a_sweep_not_by_every_drain(sqlite_db, settings, monkeypatch):
    """Drains come many times a second under load; the expiry sweep runs at most every
    EXPIRE_EVERY_SECONDS, and a survey whose window closed still ends ``expired``."""
    from gateway.surveys import pipeline as pipeline_module
    from storage import survey_store

    sweeps = []
    real = survey_store.expire_surveys

    def counting(session, now, settings):
        sweeps.append(now)
        return real(session, now, settings)

    monkeypatch.setattr(SqlSurveyStore, "expire_surveys", staticmethod(counting))
    clock = clock_at(NOW)
    smpp = FakeSmppService()
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    clock.advance(30 * 60)  # due: sent
    yield pipeline.idle()
    assert len(smpp.submitted) == 1
    sweeps.clear()
    for _ in range(5):
        pipeline.kick()
        yield pipeline.idle()
    clock.advance(pipeline_module.EXPIRE_EVERY_SECONDS)
    for _ in range(5):
        pipeline.kick()
        yield pipeline.idle()
    assert len(sweeps) == 1  # ten kicks, one sweep: the second five came 10 s later
    clock.advance(settings.reply_window.total_seconds() + pipeline_module.MAX_TIMER_SECONDS)
    yield pipeline.idle()
    status = sqlite_db.run_sync(lambda s: s.scalar(sa.select(m.Survey.status)))
    assert status == "expired"
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_a_receipt_committed_before_its_outcome_still_delivers_the_survey(sqlite_db, settings):
    """A receipt applied while its SMS's outcome still waits for a transaction moves the
    survey to delivered; the outcome, applied after it, adds sent_at and keeps delivered."""
    clock = clock_at(NOW)
    smpp = FakeSmppService(auto=None)
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    clock.advance(30 * 60)
    yield pipeline.idle()
    [sms] = smpp.submitted
    outcomes = pipeline._outcomes
    outcomes._max_concurrent = 0  # every outcome transaction is busy: the next one waits
    smpp.answer(sms.outbound_id)
    done = NOW + timedelta(minutes=30, seconds=2)
    update = ReceiptUpdate(sms.outbound_id, "m1", "DELIVRD", "delivered", done, done)
    yield defer.DeferredList(smpp.deliver_receipt(update))
    status = sqlite_db.run_sync(lambda s: s.scalar(sa.select(m.Survey.status)))
    assert status == "delivered"
    outcomes._max_concurrent = 2
    outcomes._pump()
    yield pipeline.idle()
    row = sqlite_db.run_sync(lambda s: s.execute(sa.select(m.Survey)).scalar_one())
    assert (row.status, row.delivered_at) == ("delivered", done)
    assert row.sent_at is not None
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_claims_wait_for_a_share_of_the_budget_while_sms_are_in_flight(sqlite_db, settings):
    """Every answered SMS frees a slot, but a claim (a transaction) is made only once a
    quarter of the budget is free, or nothing is in flight."""
    from dataclasses import replace

    from gateway.surveys.pipeline import CLAIM_SHARE

    settings = replace(settings, outbox_in_flight=8)
    clock = clock_at(NOW)
    smpp = FakeSmppService(auto=None, available=False)
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield ingest_events(intake, 20)
    smpp.set_available(True)
    yield pipeline.idle()
    assert len(smpp.submitted) == 8
    share = 8 // CLAIM_SHARE
    for _ in range(share - 1):
        smpp.answer(next(iter(smpp.waiting)))
        yield pipeline.idle()
    assert len(smpp.submitted) == 8  # one slot free: no claim yet
    smpp.answer(next(iter(smpp.waiting)))
    yield pipeline.idle()
    assert len(smpp.submitted) == 8 + share
    while smpp.waiting:
        smpp.answer(next(iter(smpp.waiting)))
        yield pipeline.idle()
    assert len(smpp.submitted) == 20  # the last ones go when nothing is left in flight
    yield pipeline.stopService()


class HookRecorder:
    """Stands for ``SqlSmsStore`` in ``settle_in_sms_store``: only records the hook."""

    def __init__(self):
        self.hooks = []

    def add_batch_hook(self, hook, *, failed=None):
        self.hooks.append((hook, failed))


@pytest_twisted.inlineCallbacks
def test_settled_by_the_sms_store_an_answered_sms_frees_its_slot_before_the_commit(
    sqlite_db, settings
):
    """With the SMPP store settling surveys, the budget bounds SMS waiting for the link: a slot
    is free once the SMSC answered, and SMS answered but not yet committed are bounded by
    ``OUTCOME_BACKLOG_FACTOR`` times the budget."""
    from dataclasses import replace

    from gateway.surveys.pipeline import OUTCOME_BACKLOG_FACTOR

    settings = replace(settings, outbox_in_flight=4)
    clock = clock_at(NOW)
    smpp = FakeSmppService(auto=None, available=False)
    pipeline = SurveyPipeline(sqlite_db, smpp, settings, store=SqlSurveyStore(), clock=clock)
    pipeline.settle_in_sms_store(HookRecorder())
    intake = EventIntake(
        sqlite_db, settings, store=SqlEventStore(), clock=clock, on_queued=pipeline.kick
    )
    pipeline.startService()
    yield ingest_events(intake, 30)
    smpp.set_available(True)
    yield pipeline.idle()
    assert len(smpp.submitted) == 4
    for outbound_id in list(smpp.waiting):
        smpp.answer(outbound_id, stored=False)
    yield pipeline.idle()
    assert len(smpp.submitted) == 8  # answered, not committed: the slots are free
    limit = 4 * OUTCOME_BACKLOG_FACTOR
    while smpp.waiting:
        for outbound_id in list(smpp.waiting):
            smpp.answer(outbound_id, stored=False)
        yield pipeline.idle()
    assert len(smpp.submitted) == limit  # the backlog waiting for the store is full
    assert len(smpp.unstored) == limit
    for outbound_id in list(smpp.unstored)[:4]:
        smpp.commit(outbound_id)
    yield pipeline.idle()
    assert len(smpp.submitted) == limit + 4
    while smpp.waiting or smpp.unstored:
        for outbound_id in list(smpp.waiting):
            smpp.answer(outbound_id, stored=False)
        for outbound_id in list(smpp.unstored):
            smpp.commit(outbound_id)
        yield pipeline.idle()
    assert len(smpp.submitted) == 30
    assert not pipeline._in_flight and not pipeline._committing
    yield pipeline.stopService()


def test_routine_replies_are_counted_and_the_others_logged_one_by_one(
    sqlite_db, settings, monkeypatch
):
    from twisted.logger import formatEvent, globalLogPublisher

    from gateway.surveys import pipeline as module
    from storage.survey_store import ReplyOutcome

    monkeypatch.setattr(module, "ROUTINE_REPLIES_PER_LOG", 2)
    pipeline = SurveyPipeline(
        sqlite_db, FakeSmppService(), settings, store=SqlSurveyStore(), clock=clock_at(NOW)
    )
    replies = [
        ("satisfied", "matched"),
        ("basically_satisfied", "matched"),
        ("unsatisfied", "matched"),
        ("satisfied", "comment"),  # a later reply to a rated survey
        (None, "unmatched"),
        ("satisfied", "matched"),
    ]
    seen = []
    globalLogPublisher.addObserver(seen.append)
    try:
        for i, (rating, status) in enumerate(replies):
            inbound = InboundSms(i, "13812345678", "1069", "x", False, NOW)
            pipeline._replied(ReplyOutcome(i, status, rating=rating), inbound)
    finally:
        globalLogPublisher.removeObserver(seen.append)
    lines = [formatEvent(e) for e in seen if e.get("log_namespace") == module.log.namespace]
    assert lines == [
        "surveys: 2 replies rated satisfied or basically satisfied so far",
        "surveys: reply 2 from 138****5678: unsatisfied, matched",
        "surveys: reply 3 from 138****5678: satisfied, comment",
        "surveys: reply 4 from 138****5678: None, unmatched",
    ]


@pytest_twisted.inlineCallbacks
def test_an_sms_released_at_a_stop_is_not_written_down_as_its_fate(sqlite_db, settings):
    """The SMPP client gives an SMS it never wrote back to the outbox (RELEASED): the pipeline
    neither marks it failed nor moves its survey on; the stop does not wait for more."""
    from gateway.smpp.api import RELEASED

    clock = clock_at(NOW)
    smpp = FakeSmppService(auto=None)
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    yield intake.ingest_body(repr_json(event_data()), "amqp")
    yield pipeline.idle()
    [sms] = smpp.submitted
    stopped = pipeline.stopService()
    smpp.answer(sms.outbound_id, RELEASED, "not sent: the SMPP service stopped; back in the outbox")
    yield stopped
    with sqlite_db.sessions() as s:
        row = s.get(m.OutboundMessage, sms.outbound_id)
        assert (row.status, row.error) == ("submitting", None)  # the SMPP store releases it
        assert s.scalars(sa.select(m.Survey.status)).one() == "pending"


class MarkingSmpp(FakeSmppService):
    """An SMPP client with room for ``room`` wire marks the claim may commit itself."""

    def __init__(self, room: int) -> None:
        super().__init__(auto=None)
        self.room = room
        self.released: list[int] = []

    def reserve_wire_marks(self, n: int) -> int:
        k = min(n, self.room)
        self.room -= k
        return k

    def release_wire_marks(self, n: int) -> None:
        self.released.append(n)
        self.room += n


@pytest_twisted.inlineCallbacks
def test_the_claim_marks_the_sms_it_has_room_for_and_gives_back_the_rest(sqlite_db, settings):
    """The claim commits the wire marks of as many SMS as the SMPP client reserved, and hands
    them over marked (no mark transaction of their own); unused reservations go back."""
    clock = clock_at(NOW)
    smpp = MarkingSmpp(room=2)
    pipeline, intake = started(sqlite_db, settings, clock, smpp)
    for i in range(1, 4):
        yield intake.ingest_body(
            repr_json(event_data(event_id=f"E-{i}", citizen_phone=f"1380000000{i}")), "amqp"
        )
    yield pipeline.idle()
    assert sorted(sms.wired for sms in smpp.submitted) == [False, True, True]
    wired = {sms.outbound_id for sms in smpp.submitted if sms.wired}
    rows = sqlite_db.run_sync(lambda s: {r.id: r.wire_at for r in s.query(m.OutboundMessage).all()})
    assert {oid for oid, at in rows.items() if at is not None} == wired
    assert smpp.room + len(wired) == 2  # nothing reserved left behind
    for oid in list(smpp.waiting):
        smpp.answer(oid)
    yield pipeline.idle()
    yield pipeline.stopService()


@pytest_twisted.inlineCallbacks
def test_an_sms_whose_outcome_write_was_given_up_on_is_settled_by_the_sweep(sqlite_db, settings):
    """The SMPP store gives up writing an outcome after its retries (the database stayed
    away): the SMS stays ``submitting`` with nothing here waiting for it. The pipeline's sweep
    settles it as a restart would, once its claim is old enough: written (marked), unknown;
    never written, queued again and sent. An SMS still in flight is left alone."""
    from gateway.surveys.outbox import INTERRUPTED
    from gateway.surveys.pipeline import LOST_CLAIM_SECONDS

    clock = clock_at(NOW)
    smpp = FakeSmppService(auto=None)
    pipeline = SurveyPipeline(sqlite_db, smpp, settings, store=SqlSurveyStore(), clock=clock)
    pipeline.settle_in_sms_store(HookRecorder())  # no store: an answer commits nothing
    intake = EventIntake(
        sqlite_db, settings, store=SqlEventStore(), clock=clock, on_queued=pipeline.kick
    )
    pipeline.startService()
    yield ingest_events(intake, 3)
    yield pipeline.idle()
    written, unwritten, in_flight = sorted(sms.outbound_id for sms in smpp.submitted)

    def mark(s):  # as the SMPP store marks it before writing its submit_sm
        o = m.OutboundMessage.__table__
        s.execute(sa.update(o).where(o.c.id == written).values(wire_at=NOW, updated_at=NOW))

    sqlite_db.run_sync(mark)
    smpp.answer(written)  # the outcome "stored": given up on, in truth
    smpp.answer(unwritten)
    yield pipeline.idle()

    def states(s):
        rows = s.execute(sa.select(m.OutboundMessage.id, m.OutboundMessage.status)).all()
        return dict(rows)

    minutes = 0
    while minutes * 60 < LOST_CLAIM_SECONDS - 60:  # not yet: the write may still be retried
        clock.advance(60)
        minutes += 1
        yield pipeline.idle()
    assert set(sqlite_db.run_sync(states).values()) == {"submitting"}
    for _ in range(10):  # past the claim age, and a sweep comes within five minutes
        clock.advance(60)
        yield pipeline.idle()
    got = sqlite_db.run_sync(states)
    assert got[written] == INTERRUPTED[0] == "unknown"
    assert got[in_flight] == "submitting"  # still waited for here
    assert got[unwritten] == "submitting"  # queued again, and claimed and sent again
    assert [sms.outbound_id for sms in smpp.submitted].count(unwritten) == 2
    with sqlite_db.sessions() as s:
        survey = s.scalars(
            sa.select(m.Survey)
            .join(m.OutboundMessage, m.OutboundMessage.survey_id == m.Survey.id)
            .where(m.OutboundMessage.id == written)
        ).one()
        assert survey.status == "sent"  # moved on from its unknown outcome
    for oid in list(smpp.waiting):
        smpp.answer(oid)
    yield pipeline.idle()
    yield pipeline.stopService()
