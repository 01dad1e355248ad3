"""The SMPP service in simulated time against the scripted in-memory SMSC."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from gateway.smpp import codec
from gateway.smpp.api import OutboundSms
from gateway.smpp.service import SmppService, TokenBucket, relative_validity
from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import MemorySmsStore
from tests.smpp.scripted_smsc import ScriptedSmsc

BASE = SmppSettings(
    system_id="pingjing",
    password="secret",
    source_addr="10690",
    window=10,
    response_timeout=5,
    enquire_link_interval=30,
    reconnect_initial=1,
    reconnect_max=60,
)


def make(settings=BASE, **smsc_kwargs):
    clock = Clock()
    smsc = ScriptedSmsc(clock, **smsc_kwargs)
    store = MemorySmsStore()
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)  # bind response
    return service, smsc, store, clock


def run(clock: Clock, seconds: float, step: float = 0.01) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)


def outcomes(ds):
    results = []
    for d in ds:
        d.addBoth(results.append)
    return results


def sms(i: int, text: str = "您好，请评价", to: str = "13812345678") -> OutboundSms:
    return OutboundSms(i, to, text)


def test_a_message_is_submitted_with_receipts_and_validity():
    """One SMS: submit_sm carries registered_delivery=1, the 24 h validity and the source."""
    service, smsc, store, clock = make()
    results = outcomes([service.submit(sms(1))])
    run(clock, 0.1)
    ((_, pdu),) = smsc.submits
    assert pdu.get("registered_delivery") == 1
    assert pdu.text_field("validity_period") == "000001000000000R"
    assert pdu.text_field("source_addr") == "10690"
    assert results[0].status == "submitted"
    assert results[0].message_ids == ("1",)
    assert store.outbound_status[1] == "submitted"


def test_source_addr_per_message_overrides_the_default():
    """OutboundSms.source_addr (a per-survey sub-number) is used when given."""
    service, smsc, _, clock = make()
    service.submit(OutboundSms(1, "13812345678", "hi", source_addr="106900001234"))
    run(clock, 0.1)
    assert smsc.submits[0][1].text_field("source_addr") == "106900001234"


@pytest.mark.parametrize("rate", [10, 100, 1000])
def test_rate_cap_holds_within_two_percent(rate):
    """Submits per second stay within ±2% of rate_limit over a sustained run."""
    settings = SmppSettings(**{**BASE.__dict__, "rate_limit": float(rate), "window": 50})
    service, smsc, _, clock = make(settings, latency=0.001)
    n = rate * 5
    for i in range(n):
        service.submit(sms(i, "x"))
    run(clock, 6, step=0.001 if rate >= 1000 else 0.01)
    times = [t for t, _ in smsc.submits]
    assert len(times) == n
    measured = (n - 1) / (times[-1] - times[0])
    assert abs(measured - rate) / rate < 0.02


def test_each_part_of_a_long_sms_counts_against_the_rate():
    """A 3-part SMS takes three tokens: at 10/s, 10 such SMS need about 3 s."""
    settings = SmppSettings(**{**BASE.__dict__, "rate_limit": 10.0})
    service, smsc, _, clock = make(settings)
    for i in range(10):
        service.submit(sms(i, "好" * 150))
    run(clock, 2)
    assert 19 <= len(smsc.submits) <= 21
    run(clock, 1.5)
    assert len(smsc.submits) == 30


def test_throttling_slows_down_and_everything_still_goes():
    """ESME_RTHROTTLED on every 4th submit: a pause, resends, and all messages submitted."""
    service, smsc, _, clock = make(status_for=lambda n, pdu: 0x58 if n % 4 == 0 else 0)
    seen = []
    service.add_availability_observer(seen.append)
    results = outcomes([service.submit(sms(i)) for i in range(30)])
    run(clock, 60)
    assert [r.status for r in results] == ["submitted"] * 30
    assert False in seen[1:]  # paused while throttled
    assert service.stats["throttled"] >= 1
    times = [t for t, _ in smsc.submits]
    assert times[-1] - times[0] >= 1.0  # at least one backoff pause happened


def test_throttling_gives_up_after_max_tries_with_the_status_name():
    """Always throttled: the message fails with ESME_RTHROTTLED after max_submit_tries."""
    settings = SmppSettings(**{**BASE.__dict__, "max_submit_tries": 3, "throttle_backoff": 0.5})
    service, smsc, _, clock = make(settings, status_for=lambda n, pdu: 0x58)
    results = outcomes([service.submit(sms(1))])
    run(clock, 30)
    assert len(smsc.submits) == 3
    assert (results[0].status, results[0].error) == ("failed", "ESME_RTHROTTLED")


def test_queue_full_is_treated_like_throttling():
    """ESME_RMSGQFUL once, then success: submitted on the second try."""
    service, smsc, _, clock = make(status_for=lambda n, pdu: 0x14 if n == 1 else 0)
    results = outcomes([service.submit(sms(1))])
    run(clock, 5)
    assert results[0].status == "submitted"
    assert len(smsc.submits) == 2


def test_permanent_error_fails_the_message_with_the_status_name():
    """ESME_RINVDSTADR ends the message as failed, naming the status; no resend."""
    service, smsc, store, clock = make(status_for=lambda n, pdu: 0x0B)
    results = outcomes([service.submit(sms(1))])
    run(clock, 5)
    assert (results[0].status, results[0].error) == ("failed", "ESME_RINVDSTADR")
    assert len(smsc.submits) == 1
    assert store.outbound_status[1] == "failed"


def test_permanent_error_on_part_one_stops_the_remaining_parts():
    """With window 1, part 1 failing permanently means parts 2 and 3 are never sent."""
    settings = SmppSettings(**{**BASE.__dict__, "window": 1})
    service, smsc, _, clock = make(settings, status_for=lambda n, pdu: 0x0B)
    results = outcomes([service.submit(sms(1, "好" * 150))])
    run(clock, 5)
    assert len(smsc.submits) == 1
    assert results[0].status == "failed"
    assert results[0].parts == 3


def test_retryable_error_is_resent_after_a_backoff():
    """ESME_RSYSERR once: resent after throttle_backoff, then submitted."""
    service, smsc, _, clock = make(status_for=lambda n, pdu: 0x08 if n == 1 else 0)
    results = outcomes([service.submit(sms(1))])
    run(clock, 0.5)
    assert len(smsc.submits) == 1
    run(clock, 1)
    assert len(smsc.submits) == 2
    assert results[0].status == "submitted"


def test_unanswered_submit_is_resent_once_then_succeeds():
    """resend_once: no response → resent after the deadline → its response counts."""
    service, smsc, store, clock = make(status_for=lambda n, pdu: None if n == 1 else 0)
    results = outcomes([service.submit(sms(1))])
    run(clock, 6)
    assert len(smsc.submits) == 2
    assert results[0].status == "submitted"
    statuses = [p.result.status for p in store.parts.values()]
    assert statuses == ["unacked", "submitted"]  # both attempts recorded


def test_unanswered_twice_is_unknown_with_resend_once():
    """resend_once: two silent attempts → outcome unknown, recorded."""
    service, smsc, store, clock = make(status_for=lambda n, pdu: None)
    results = outcomes([service.submit(sms(1))])
    run(clock, 12)
    assert len(smsc.submits) == 2
    assert results[0].status == "unknown"
    assert store.outbound_status[1] == "unknown"


def test_mark_unknown_policy_never_resends():
    """mark_unknown: one silent attempt → unknown, no resend."""
    settings = SmppSettings(**{**BASE.__dict__, "unacked_policy": "mark_unknown"})
    service, smsc, _, clock = make(settings, status_for=lambda n, pdu: None)
    results = outcomes([service.submit(sms(1))])
    run(clock, 12)
    assert len(smsc.submits) == 1
    assert results[0].status == "unknown"


def test_link_lost_with_a_full_window_gives_each_message_one_outcome():
    """The SMSC drops the link with 10 requests in the window: reconnect, resend, one outcome
    per message, none lost."""
    service, smsc, _, clock = make(status_for=lambda n, pdu: None if n <= 10 else 0)
    results = outcomes([service.submit(sms(i)) for i in range(25)])
    run(clock, 0.1)
    smsc.drop()
    run(clock, 10)
    assert smsc.connections == 2
    assert len(results) == 25
    assert [r.status for r in results] == ["submitted"] * 25


def test_bad_password_backs_off_instead_of_looping():
    """A refused bind is retried with exponential backoff, the status name kept."""
    settings = SmppSettings(**{**BASE.__dict__, "password": "wrong"})
    service, smsc, _, clock = make(settings)
    run(clock, 60, step=0.05)
    assert 4 <= smsc.connections <= 8  # 0, 1, 3, 7, 15, 31 s ...
    assert service.last_bind_error == "ESME_RINVPASWD"


def test_bind_password_never_reaches_the_log(capsys):
    """Neither the settings repr nor the refusal message shows the password."""
    settings = SmppSettings(**{**BASE.__dict__, "password": "s3cr3t"})
    assert "s3cr3t" not in repr(settings)
    from twisted.logger import globalLogPublisher

    lines = []
    globalLogPublisher.addObserver(lines.append)
    try:
        _service, _smsc, _, clock = make(settings)
        run(clock, 2)
    finally:
        globalLogPublisher.removeObserver(lines.append)
    from twisted.logger import formatEvent

    text = "\n".join(formatEvent(e) for e in lines)
    assert "ESME_RINVPASWD" in text
    assert "s3cr3t" not in text


def test_availability_follows_the_bind():
    """Unavailable before the bind, available once bound, unavailable when stopping."""
    clock = Clock()
    smsc = ScriptedSmsc(clock)
    service = SmppService(BASE, MemorySmsStore(), clock=clock, endpoint_factory=smsc.endpoint)
    seen = []
    service.add_availability_observer(seen.append)
    service.startService()
    clock.advance(0.02)
    service.stopService()
    run(clock, 1)
    assert seen == [False, True, False]


def test_when_bound_fires_after_the_bind():
    """whenBound() waits for the bind response."""
    clock = Clock()
    smsc = ScriptedSmsc(clock)
    service = SmppService(BASE, MemorySmsStore(), clock=clock, endpoint_factory=smsc.endpoint)
    d = service.whenBound()
    service.startService()
    assert not d.called
    clock.advance(0.02)
    assert d.called


def test_graceful_stop_waits_for_responses_then_unbinds():
    """stopService waits for outstanding responses, then sends unbind; no new work is taken."""
    service, smsc, _, clock = make()
    smsc.latency = 0.5
    results = outcomes([service.submit(sms(i)) for i in range(3)])
    stopped = service.stopService()
    late = outcomes([service.submit(sms(99))])
    run(clock, 2)
    assert stopped.called
    assert [r.status for r in results] == ["submitted"] * 3
    assert late[0].status == "released"  # claimed just too late: back to the outbox
    assert smsc.unbinds == 1


def test_graceful_stop_is_bounded():
    """With a silent SMSC, stop gives up after stop_timeout; every message still has an outcome."""
    settings = SmppSettings(
        **{
            **BASE.__dict__,
            "stop_timeout": 2,
            "response_timeout": 30,
            "unacked_policy": "mark_unknown",
        }
    )
    service, _smsc, _, clock = make(settings, status_for=lambda n, pdu: None)
    results = outcomes([service.submit(sms(i)) for i in range(3)])
    stopped = service.stopService()
    run(clock, 10)
    assert stopped.called
    assert [r.status for r in results] == ["unknown"] * 3


def test_reply_is_stored_before_deliver_sm_resp():
    """A store failure answers ESME_RX_T_APPN and stores nothing; the resend is stored."""
    service, smsc, store, _clock = make()
    replies = []
    service.add_reply_observer(replies.append)
    store.fail_next = RuntimeError("database down")
    pdu = codec.encode("deliver_sm", 50, source_addr="13812345678", destination_addr="10690",
                       short_message=b"1")  # fmt: skip
    smsc.deliver(pdu)
    assert [(p.command, p.status) for p in smsc.deliver_resps] == [("deliver_sm_resp", 0x64)]
    assert store.inbound == {} and replies == []
    smsc.deliver(pdu)
    assert smsc.deliver_resps[-1].status == 0
    assert [r.text for r in replies] == ["1"]


def test_multipart_reply_is_reassembled_from_udh_parts():
    """A 2-part UCS2 reply, part 2 first, comes out as one text."""
    service, smsc, store, _clock = make()
    replies = []
    service.add_reply_observer(replies.append)
    text = "不满意" * 30
    data = text.encode("utf-16-be")
    for n in (2, 1):
        chunk = data[(n - 1) * 134 : n * 134]
        smsc.deliver(codec.encode("deliver_sm", 60 + n, source_addr="13812345678",
                                  esm_class=0x40, data_coding=8,
                                  short_message=bytes([5, 0, 3, 9, 2, n]) + chunk))  # fmt: skip
    assert [r.text for r in replies] == [text]
    assert replies[0].incomplete is False
    assert store.held == {}


def test_incomplete_reply_is_delivered_after_the_expiry():
    """Part 1 of 2 only: after reassembly_timeout it is delivered, flagged incomplete."""
    settings = SmppSettings(**{**BASE.__dict__, "reassembly_timeout": 60})
    service, smsc, store, clock = make(settings)
    replies = []
    service.add_reply_observer(replies.append)
    payload = bytes([5, 0, 3, 1, 2, 1]) + "我".encode("utf-16-be")
    smsc.deliver(codec.encode("deliver_sm", 70, source_addr="13812345678", data_coding=8,
                              esm_class=0x40, short_message=payload))  # fmt: skip
    assert len(store.held) == 1
    run(clock, 61, step=1)
    assert [(r.text, r.incomplete) for r in replies] == [("我", True)]
    assert store.held == {}


def test_receipt_before_response_ends_delivered():
    """A receipt for an id not yet recorded is kept, then matched when the response comes."""
    service, smsc, store, clock = make()
    smsc.latency = 1.0
    updates = []
    service.add_receipt_observer(updates.append)
    results = outcomes([service.submit(sms(1))])
    clock.advance(0.5)
    smsc.deliver(codec.encode("deliver_sm", 80, esm_class=4, source_addr="13812345678",
                              short_message=b"id:1 stat:DELIVRD err:000"))  # fmt: skip
    assert updates[0].outbound_id is None
    run(clock, 1)
    assert results[0].status == "submitted"
    assert updates[-1].outbound_id == 1
    assert updates[-1].final_status == "delivered"
    assert store.outbound_status[1] == "delivered"


def test_token_bucket_waits_the_right_time():
    """At 4 tokens/s with burst 1, after one take the next is 0.25 s away."""
    clock = Clock()
    bucket = TokenBucket(4, clock, burst=1)
    assert bucket.take()
    assert not bucket.take()
    assert bucket.wait() == pytest.approx(0.25)
    clock.advance(0.25)
    assert bucket.take()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86400, "000001000000000R"), (3600 * 5 + 61, "000000050101000R"), (0, None)],
)
def test_relative_validity_format(seconds, text):
    """Validity as SMPP relative time YYMMDDhhmmss000R."""
    assert relative_validity(seconds) == text


@pytest.mark.parametrize(
    ("destination", "source", "reason"),
    [
        ("1" * 21, None, "at most 20"),
        ("138abc", None, "not a phone number"),
        ("13812345678", "x" * 21, "source_addr"),
    ],
)
def test_unsendable_addresses_fail_with_a_reason_and_send_nothing(destination, source, reason):
    """A bad address ends the message as failed, naming the problem; no PDU goes out."""
    service, smsc, store, clock = make()
    results = outcomes([service.submit(OutboundSms(1, destination, "hi", source_addr=source))])
    run(clock, 0.1)
    assert results[0].status == "failed"
    assert reason in results[0].error
    assert smsc.submits == []
    assert store.outbound_status[1] == "failed"


class SlowStore(MemorySmsStore):
    """Submissions commit only when the test says so."""

    def __init__(self):
        super().__init__()
        self.pending = []

    def record_submission(self, outcome, parts):
        from twisted.internet import defer

        d = defer.Deferred()
        self.pending.append((d, outcome, parts))
        return d

    def commit_all(self):
        while self.pending:
            d, outcome, parts = self.pending.pop(0)
            super().record_submission(outcome, parts).chainDeferred(d)


def test_on_answered_is_told_the_outcome_before_the_store_commits_it():
    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = SlowStore()
    service = SmppService(BASE, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    answered = []
    results = outcomes(
        [
            service.submit(sms(1), on_answered=answered.append),
            service.submit(OutboundSms(2, "138abc", "hi"), on_answered=answered.append),
        ]
    )
    run(clock, 0.1)
    assert [(o.outbound_id, o.status) for o in answered] == [(2, "failed"), (1, "submitted")]
    assert results == []  # neither outcome is committed yet
    store.commit_all()
    assert sorted((o.outbound_id, o.status) for o in results) == [(1, "submitted"), (2, "failed")]
    assert store.outbound_status == {1: "submitted", 2: "failed"}


def test_an_on_answered_that_raises_is_logged_and_the_outcome_still_stored():
    from twisted.logger import globalLogPublisher

    service, _smsc, store, clock = make()

    def broken(outcome):
        raise RuntimeError("observer bug")

    seen = []
    globalLogPublisher.addObserver(seen.append)
    try:
        results = outcomes([service.submit(sms(1), on_answered=broken)])
        run(clock, 0.1)
    finally:
        globalLogPublisher.removeObserver(seen.append)
    assert results[0].status == "submitted"
    assert store.outbound_status[1] == "submitted"
    [logged] = [e for e in seen if "log_failure" in e]
    assert "observer bug" in str(logged["log_failure"].value)
    assert logged["oid"] == 1


def test_a_finished_message_is_freed_without_the_cycle_collector():
    """Nothing an answered SMS leaves behind forms a reference cycle: refcounting frees its
    message (Deferred, parts, results) at once. A cycle per SMS waited for the collector's
    next sweep, which then traversed hundreds of thousands of objects (docs/benchmarks.md)."""
    import gc
    import weakref

    service, _, _, clock = make()
    gc.collect()
    gc.disable()
    try:
        results = outcomes([service.submit(sms(1, "好" * 150))])  # three parts
        [message] = service._open.values()
        gone = weakref.ref(message)
        del message
        run(clock, 0.1)
        assert results[0].status == "submitted"
        assert gone() is None
    finally:
        gc.enable()
