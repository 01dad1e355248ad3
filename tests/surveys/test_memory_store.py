"""The survey pipeline on the in-memory store (no database), and the reply batch's decisions."""

from __future__ import annotations

from datetime import timedelta

from twisted.internet.task import Clock

from gateway.smpp.api import InboundSms, ReceiptUpdate
from gateway.surveys import lifecycle as lc
from gateway.surveys.classifier import classify
from gateway.surveys.outbox import Recovered
from gateway.surveys.pipeline import SurveyPipeline
from gateway.surveys.replies import Candidate, ReplyContext, Seen, decide_replies
from gateway.surveys.settings import SurveySettings
from gateway.surveys.store import MemoryRunner, MemorySurveyStore
from tests.surveys.fake_smpp import FakeSmppService
from tests.surveys.support import NOW

SETTINGS = SurveySettings()
PHONE = "13812345678"


def started(store: MemorySurveyStore, smpp: FakeSmppService) -> tuple[SurveyPipeline, Clock]:
    clock = Clock()
    clock.advance(NOW.timestamp())
    pipeline = SurveyPipeline(MemoryRunner(), smpp, SETTINGS, store=store, clock=clock)
    pipeline.startService()
    return pipeline, clock


def inbound(inbound_id: int, text: str, minutes: float = 5) -> InboundSms:
    return InboundSms(
        inbound_id, "86" + PHONE, "10690000", text, False, NOW + timedelta(minutes=minutes)
    )


def test_pipeline_sends_and_moves_the_survey_on_with_no_database():
    """A queued survey is submitted; its outcome, receipt and reply move the in-memory record."""
    store = MemorySurveyStore()
    store.add_survey(lc.SurveyRecord(1, PHONE, 3), "请评价", NOW)
    smpp = FakeSmppService()
    pipeline, _ = started(store, smpp)
    [sms] = smpp.submitted
    assert store.surveys[1].status == "sent"
    smpp.deliver_receipt(ReceiptUpdate(sms.outbound_id, "m", "DELIVRD", "delivered", NOW, NOW))
    reply = inbound(10, "3 太慢")
    store.add_inbound(reply)
    smpp.deliver_reply(reply)
    record = store.surveys[1]
    assert (record.status, record.rating, record.delivered_at) == ("replied", "unsatisfied", NOW)
    assert store.callbacks == [lc.CallbackTaskDue(1, 3, PHONE)]
    assert store.cases == {1: lc.OpenCase(1, 3)}
    assert [s.kind for s in store.sms.values()] == ["survey", "thank_you"]
    pipeline.stopService()


def test_opt_out_elsewhere_stops_a_queued_survey():
    """A survey whose number opted out before it was claimed is opted out, its SMS not sent."""
    store = MemorySurveyStore()
    store.add_survey(lc.SurveyRecord(1, PHONE, 3), "请评价", NOW)
    store.opted.add(PHONE)
    smpp = FakeSmppService()
    pipeline, _ = started(store, smpp)
    assert smpp.submitted == []
    assert store.surveys[1].status == "opted_out"
    pipeline.stopService()


def _context(*records: lc.SurveyRecord, in_flight: bool = False) -> ReplyContext:
    return ReplyContext({}, {PHONE: [Candidate(r, in_flight) for r in records]}, set())


def test_batch_opt_out_confirms_once_and_stops_what_the_batch_queued():
    """3 then TD then 退订 in one batch: the thank-you is dropped, the callback task is kept as
    opted_out, one confirmation is queued and the survey is opted_out."""
    sent = lc.SurveyRecord(1, PHONE, 3, "sent", expires_at=NOW + timedelta(days=3))
    replies = [(inbound(i, t), classify(t)) for i, t in enumerate(["3", "TD", "退订"], 1)]
    decisions = decide_replies(replies, _context(sent), SETTINGS)
    assert [o.match_status for o in decisions.outcomes] == ["matched", "opt_out", "opt_out"]
    assert [s.kind for s in decisions.sms] == ["opt_out_confirm"]
    assert [d.status for d in decisions.callbacks] == ["opted_out"]
    assert decisions.surveys[1].status == "opted_out"
    assert len(decisions.opt_outs) == 1


def test_batch_opt_out_stops_the_numbers_other_open_surveys():
    """TD to the latest survey also opts out the number's pending survey, saying why."""
    sent = lc.SurveyRecord(2, PHONE, 3, "sent", sent_at=NOW, expires_at=NOW + timedelta(days=3))
    queued = lc.SurveyRecord(1, PHONE, 3)
    decisions = decide_replies(
        [(inbound(1, "TD"), classify("TD"))], _context(queued, sent), SETTINGS
    )
    assert decisions.surveys[2].status == "opted_out"
    assert decisions.surveys[2].failure_reason is None
    assert (decisions.surveys[1].status, decisions.surveys[1].failure_reason) == (
        "opted_out",
        "opted out by another message",
    )


def test_reply_already_acted_on_is_a_duplicate():
    """A reply whose row is no longer new is not acted on again."""
    sent = lc.SurveyRecord(1, PHONE, 3, "sent", expires_at=NOW + timedelta(days=3))
    context = _context(sent)
    context.seen[1] = Seen("matched", 1, "satisfied")
    decisions = decide_replies([(inbound(1, "1"), classify("1"))], context, SETTINGS)
    assert [o.match_status for o in decisions.outcomes] == ["duplicate"]
    assert decisions.surveys == {} and decisions.sms == []


def test_a_running_recovery_settles_only_old_claims_not_kept_in_flight():
    """recover_interrupted with ``claimed_before`` and ``keep`` (the pipeline's sweep for
    outcomes given up on): a claim too recent, or an SMS still in flight, is left alone."""
    store = MemorySurveyStore()
    for sid in (1, 2, 3):
        store.add_survey(lc.SurveyRecord(sid, f"1380000000{sid}", 3), "请评价", NOW)
    claimed = store.claim_due(None, NOW, 10, SETTINGS, "gw-a")
    assert len(claimed) == 3
    old, kept, recent = (store.sms[item.outbound_id] for item in claimed)
    recent.claimed_at = NOW + timedelta(minutes=30)
    old.wire_at = NOW
    got = store.recover_interrupted(
        None, NOW + timedelta(minutes=31), SETTINGS, "gw-a",
        claimed_before=NOW + timedelta(minutes=16), keep=[kept.id],
    )  # fmt: skip
    assert got == Recovered(0, 1)
    assert (old.status, kept.status, recent.status) == ("unknown", "submitting", "submitting")
