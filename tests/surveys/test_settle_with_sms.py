"""Surveys settled in the SMPP store's own batch transaction (``SqlSmsStore`` batch hook)."""

from __future__ import annotations

from datetime import timedelta

import pytest_twisted
import sqlalchemy as sa

from gateway.smpp.api import SubmitOutcome
from gateway.smpp.store import PartResult, ReceiptRecord
from storage import models as m
from storage import survey_store as ss
from storage.sms_store import SqlSmsStore
from storage.survey_store import SqlSurveyStore
from tests.surveys.support import NOW
from tests.surveys.test_survey_store import add_event, reply, survey


def hooked_store(db, settings, now=NOW):
    store = SqlSmsStore(db)
    store.add_batch_hook(
        lambda session, outcomes, updates: ss.settle_with_sms(
            session, outcomes, updates, now, settings
        )
    )
    return store


def part(oid: int, mid: str) -> PartResult:
    return PartResult(oid, 1, 1, 1, 7, mid, mid.lower(), "submitted", 0, None, NOW, NOW)


def receipt(mid: str, state: str = "DELIVRD") -> ReceiptRecord:
    return ReceiptRecord(mid, mid.lower(), state, "000", None, None, "138", f"id:{mid}", NOW)


def claimed(db, settings, n=1):
    for i in range(n):
        add_event(db, settings, event_id=f"E-{i}", citizen_phone=f"1380000000{i}")
    return db.run_sync(ss.claim_due, NOW, 100, settings)


@pytest_twisted.inlineCallbacks
def test_outcome_and_receipt_in_one_batch_deliver_the_survey_in_that_transaction(db, settings):
    [item] = claimed(db, settings)
    store = hooked_store(db, settings)
    busy = store.record_receipt(receipt("Z9"))  # the store is busy: the next two share a batch
    outcome = SubmitOutcome(item.outbound_id, "submitted", ("A1",), 1, None)
    submitted = store.record_submission(outcome, [part(item.outbound_id, "A1")])
    delivered = store.record_receipt(receipt("A1"))
    yield busy
    yield submitted
    update = yield delivered
    assert update.final_status == "delivered"
    assert store.batches == 2
    s = survey(db)
    assert (s.status, s.sent_at, s.delivered_at) == ("delivered", NOW, NOW)
    assert s.expires_at == NOW + settings.reply_window


@pytest_twisted.inlineCallbacks
def test_receipt_of_a_later_batch_delivers_or_fails_the_sent_survey(db, settings):
    a, b = claimed(db, settings, 2)
    store = hooked_store(db, settings)
    for item, mid in ((a, "A1"), (b, "B1")):
        outcome = SubmitOutcome(item.outbound_id, "submitted", (mid,), 1, None)
        yield store.record_submission(outcome, [part(item.outbound_id, mid)])
    assert [survey(db, i.survey_id).status for i in (a, b)] == ["sent", "sent"]
    yield store.record_receipt(receipt("A1"))
    yield store.record_receipt(receipt("B1", "UNDELIV"))
    first, second = survey(db, a.survey_id), survey(db, b.survey_id)
    assert (first.status, first.delivered_at) == ("delivered", NOW)
    assert (second.status, second.failure_reason) == ("undeliverable", "receipt UNDELIV")


@pytest_twisted.inlineCallbacks
def test_receipt_before_the_submit_response_settles_with_the_outcome(db, settings):
    """The receipt overtook submit_sm_resp: kept as an orphan, matched when the part is
    stored, and the survey goes straight to delivered."""
    [item] = claimed(db, settings)
    store = hooked_store(db, settings)
    early = yield store.record_receipt(receipt("A1"))
    assert early.outbound_id is None
    assert survey(db).status == "pending"
    outcome = SubmitOutcome(item.outbound_id, "submitted", ("A1",), 1, None)
    yield store.record_submission(outcome, [part(item.outbound_id, "A1")])
    assert survey(db).status == "delivered"


@pytest_twisted.inlineCallbacks
def test_failed_submit_fails_the_survey_and_a_reply_is_not_overwritten(db, settings):
    a, b = claimed(db, settings, 2)
    store = hooked_store(db, settings)
    failed = SubmitOutcome(a.outbound_id, "failed", (), 1, "ESME_RINVDSTADR")
    yield store.record_submission(failed, [])
    # b's reply overtook its outcome (the citizen answered before submit_sm_resp was stored)
    later = NOW + timedelta(minutes=1)
    reply(db, settings, "1", phone="13800000001", at=later)
    outcome = SubmitOutcome(b.outbound_id, "submitted", ("B1",), 1, None)
    yield store.record_submission(outcome, [part(b.outbound_id, "B1")])
    first, second = survey(db, a.survey_id), survey(db, b.survey_id)
    assert (first.status, first.failure_reason) == ("failed", "ESME_RINVDSTADR")
    assert (second.status, second.rating, second.sent_at) == ("replied", "satisfied", NOW)


@pytest_twisted.inlineCallbacks
def test_sms_that_are_not_surveys_leave_surveys_alone(db, settings):
    claimed(db, settings)
    store = hooked_store(db, settings)

    def notice(s):
        row = m.OutboundMessage(kind="thank_you", destination="13800000000", text="谢谢")
        s.add(row)
        s.flush()
        return row.id

    oid = db.run_sync(notice)
    outcome = SubmitOutcome(oid, "submitted", ("N1",), 1, None)
    yield store.record_submission(outcome, [part(oid, "N1")])
    yield store.record_receipt(receipt("N1"))
    assert survey(db).status == "pending"
    statuses = db.run_sync(
        lambda s: s.scalars(sa.select(m.OutboundMessage.status).order_by(m.OutboundMessage.id))
    ).all()
    assert statuses == ["submitting", "delivered"]


# --- a hook that fails -------------------------------------------------------------------


def failing_hook(session, outcomes, updates):
    # an SQL error: on PostgreSQL it aborts the transaction, which the savepoint must undo
    session.execute(sa.text("SELECT no_such_column FROM surveys"))


@pytest_twisted.inlineCallbacks
def test_a_failing_hook_loses_only_its_own_writes_and_says_what_it_did_not_settle(db, settings):
    [item] = claimed(db, settings)
    store = SqlSmsStore(db)
    told = []

    def wrote_then_failed(session, outcomes, updates):
        session.execute(
            sa.update(m.Survey).where(m.Survey.id == item.survey_id).values(status="sent")
        )
        failing_hook(session, outcomes, updates)

    store.add_batch_hook(
        wrote_then_failed, failed=lambda outcomes, updates, f: told.append((outcomes, updates, f))
    )
    outcome = SubmitOutcome(item.outbound_id, "submitted", ("A1",), 1, None)
    updates = yield store.record_submission(outcome, [part(item.outbound_id, "A1")])
    assert updates == []
    assert store.batches == 1  # committed as one batch, not retried one by one
    sms = db.run_sync(lambda s: s.get(m.OutboundMessage, item.outbound_id))
    assert sms.status == "submitted"
    assert db.run_sync(lambda s: s.scalar(sa.select(sa.func.count()).select_from(m.SmsPart))) == 1
    assert survey(db).status == "pending"  # the hook's own write was rolled back
    [(outcomes, updates, failure)] = told
    assert outcomes == [outcome] and updates == []
    assert "no_such_column" in str(failure.value)


@pytest_twisted.inlineCallbacks
def test_receipts_of_a_failed_hook_are_reported_with_their_updates(db, settings):
    [item] = claimed(db, settings)
    store = SqlSmsStore(db)
    told = []
    store.add_batch_hook(failing_hook, failed=lambda o, u, f: told.append((o, u)))
    outcome = SubmitOutcome(item.outbound_id, "submitted", ("A1",), 1, None)
    yield store.record_submission(outcome, [part(item.outbound_id, "A1")])
    update = yield store.record_receipt(receipt("A1"))
    assert update.final_status == "delivered"
    assert told[1] == ([], [update])
    sms = db.run_sync(lambda s: s.get(m.OutboundMessage, item.outbound_id))
    assert sms.status == "delivered"


@pytest_twisted.inlineCallbacks
def test_the_pipeline_settles_what_a_failed_hook_left_in_its_own_transactions(
    db, settings, monkeypatch
):
    from twisted.internet.task import Clock

    from gateway.surveys.pipeline import SurveyPipeline
    from tests.surveys.fake_smpp import FakeSmppService

    a, b = claimed(db, settings, 2)
    clock = Clock()
    clock.advance(NOW.timestamp())
    pipeline = SurveyPipeline(
        db, FakeSmppService(available=False), settings, store=SqlSurveyStore(), clock=clock
    )
    store = SqlSmsStore(db)
    pipeline.settle_in_sms_store(store)
    real = ss.settle_with_sms
    calls = []

    def broken_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("a bug in survey code")
        return real(*args)

    monkeypatch.setattr(SqlSurveyStore, "settle_with_sms", staticmethod(broken_once))
    for item, mid in ((a, "A1"), (b, "B1")):
        outcome = SubmitOutcome(item.outbound_id, "submitted", (mid,), 1, None)
        yield store.record_submission(outcome, [part(item.outbound_id, mid)])
    yield pipeline.idle()
    assert len(calls) == 2
    assert [survey(db, i.survey_id).status for i in (a, b)] == ["sent", "sent"]
    yield store.record_receipt(receipt("A1"))
    yield pipeline.idle()
    assert survey(db, a.survey_id).status == "delivered"
