"""The bind state machine, driven by bytes and a Clock."""

from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from gateway.smpp import codec
from gateway.smpp.session import (
    BindRefused,
    LinkLost,
    ResponseTimeout,
    SmppSession,
    State,
    WindowFull,
)
from gateway.smpp.settings import SmppSettings

SETTINGS = SmppSettings(
    system_id="pingjing",
    password="secret",
    window=2,
    enquire_link_interval=30,
    response_timeout=5,
    bind_timeout=5,
)


class Wire:
    """The session's two callables, recorded."""

    def __init__(self) -> None:
        self.sent: list[codec.Pdu] = []
        self.dropped: list[str] = []

    def write(self, data: bytes) -> None:
        self.sent.extend(codec.decode(f) for f in codec.Framer().feed(data))

    def disconnect(self, reason: str) -> None:
        self.dropped.append(reason)


def new_session(on_deliver=None, settings=SETTINGS) -> tuple[SmppSession, Wire, Clock]:
    clock, wire = Clock(), Wire()
    s = SmppSession(settings, "bind_transceiver", clock, wire.write, wire.disconnect, on_deliver)
    return s, wire, clock


def bound_session(on_deliver=None, settings=SETTINGS) -> tuple[SmppSession, Wire, Clock]:
    s, wire, clock = new_session(on_deliver, settings)
    s.connection_made()
    s.data_received(codec.encode("bind_transceiver_resp", wire.sent[0].sequence, system_id="x"))
    assert s.state is State.BOUND
    wire.sent.clear()
    return s, wire, clock


def test_connection_sends_bind_with_the_account():
    """On connect the session sends bind_transceiver with system_id and password."""
    s, wire, _ = new_session()
    s.connection_made()
    (bind,) = wire.sent
    assert bind.command == "bind_transceiver"
    assert bind.text_field("system_id") == "pingjing"
    assert bind.text_field("password") == "secret"
    assert s.state is State.BINDING


def test_bind_response_ok_makes_the_session_bound():
    """bind_transceiver_resp with ESME_ROK → bound, when_bound fires."""
    s, wire, _ = new_session()
    d = s.when_bound()
    s.connection_made()
    s.data_received(codec.encode("bind_transceiver_resp", wire.sent[0].sequence, system_id="x"))
    assert s.state is State.BOUND
    assert d.called


def test_bind_refused_fails_with_the_status_name_and_drops():
    """ESME_RINVPASWD → BindRefused naming it; the link is dropped."""
    s, wire, _ = new_session()
    d = s.when_bound()
    s.connection_made()
    s.data_received(codec.encode_header_only(0x80000009, wire.sent[0].sequence, status=0x0E))
    failure = []
    d.addErrback(failure.append)
    assert failure[0].check(BindRefused)
    assert "ESME_RINVPASWD" in str(failure[0].value)
    assert "secret" not in str(failure[0].value)
    assert wire.dropped


def test_no_bind_response_drops_after_the_bind_timeout():
    """No answer to the bind within bind_timeout drops the link."""
    s, wire, clock = new_session()
    s.connection_made()
    clock.advance(5)
    assert wire.dropped and "bind" in wire.dropped[0]


def test_window_is_bounded():
    """With window 2, capacity goes 2 → 0 and a third request is refused."""
    s, _wire, _ = bound_session()
    assert s.capacity == 2
    s.send_request("submit_sm", destination_addr="1", short_message=b"a")
    s.send_request("submit_sm", destination_addr="1", short_message=b"b")
    assert s.capacity == 0
    d = s.send_request("submit_sm", destination_addr="1", short_message=b"c")
    assert isinstance(d.result.value, WindowFull)
    d.addErrback(lambda f: None)


def test_response_resolves_its_request_by_sequence():
    """submit_sm_resp with the request's sequence fires that request's Deferred."""
    s, wire, _ = bound_session()
    d1 = s.send_request("submit_sm", destination_addr="1", short_message=b"a")
    d2 = s.send_request("submit_sm", destination_addr="1", short_message=b"b")
    s.data_received(codec.encode("submit_sm_resp", wire.sent[1].sequence, message_id="B"))
    assert d2.result.text_field("message_id") == "B"
    assert not d1.called
    assert s.capacity == 1


def test_request_without_response_fails_at_its_deadline():
    """No response within response_timeout → ResponseTimeout, window slot freed."""
    s, _wire, clock = bound_session()
    d = s.send_request("submit_sm", destination_addr="1", short_message=b"a")
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.1)
    failures = []
    d.addErrback(failures.append)
    assert failures[0].check(ResponseTimeout)
    assert s.capacity == 2


def _deadline_timers(clock: Clock) -> int:
    return sum(getattr(c.func, "__name__", "") == "_deadlines_due" for c in clock.getDelayedCalls())


def _timed_out(d: defer.Deferred) -> bool:
    failures: list = []
    d.addErrback(failures.append)
    return bool(failures) and failures[0].check(ResponseTimeout) is not None


def test_each_request_expires_at_its_own_deadline_under_one_timer():
    """Requests sent at different times expire at their own deadlines, never earlier, and the
    window is watched by one timer whatever the number of requests (besides enquire_link)."""
    s, wire, clock = bound_session(settings=SETTINGS.__class__(**{**vars(SETTINGS), "window": 10}))
    first = s.send_request("submit_sm", destination_addr="1", short_message=b"a")
    clock.advance(2)
    second = s.send_request("submit_sm", destination_addr="1", short_message=b"b")
    answered = s.send_request("submit_sm", destination_addr="1", short_message=b"c")
    assert _deadline_timers(clock) == 1
    s.data_received(codec.encode("submit_sm_resp", wire.sent[2].sequence, message_id="C"))
    assert answered.called and not answered.result.status
    clock.advance(3)  # t=5: the first is due, the second (sent at t=2) is not
    assert _timed_out(first)
    assert not second.called
    clock.advance(1.9)
    assert not second.called
    clock.advance(0.1)  # t=7
    assert _timed_out(second)
    assert s.capacity == 10
    assert _deadline_timers(clock) == 0  # nothing pending: no deadline timer left


def test_a_shorter_deadline_brings_the_timer_forward():
    """A request tracked with a shorter timeout than the one the timer waits for still
    expires on time (the bind timeout and the response timeout may differ)."""
    s, _wire, clock = bound_session()
    slow = s._track(s.next_sequence(), "submit_sm", 60)
    fast = s._track(s.next_sequence(), "submit_sm", 5)
    clock.advance(5)
    assert _timed_out(fast)
    assert not slow.called
    clock.advance(55)
    assert _timed_out(slow)


def test_closing_the_link_stops_the_deadline_timer():
    s, _wire, clock = bound_session()
    d = s.send_request("submit_sm", destination_addr="1", short_message=b"a")
    d.addErrback(lambda f: f.trap(LinkLost))
    s.connection_lost()
    assert clock.getDelayedCalls() == []


def test_enquire_link_is_sent_every_interval():
    """Every enquire_link_interval seconds, one enquire_link."""
    s, wire, clock = bound_session()
    clock.advance(30)
    assert [p.command for p in wire.sent] == ["enquire_link"]
    s.data_received(codec.encode_header_only(0x80000015, wire.sent[0].sequence))
    clock.advance(30)
    assert [p.command for p in wire.sent] == ["enquire_link", "enquire_link"]


def test_enquire_link_timeout_drops_the_link():
    """An unanswered enquire_link drops the link after response_timeout."""
    _s, wire, clock = bound_session()
    clock.advance(30)
    clock.advance(5)
    assert wire.dropped and "enquire_link" in wire.dropped[0]


def test_enquire_link_from_the_smsc_is_answered():
    """The SMSC's enquire_link gets enquire_link_resp with the same sequence."""
    s, wire, _ = bound_session()
    s.data_received(codec.encode_header_only(0x15, 77))
    assert [(p.command, p.sequence) for p in wire.sent] == [("enquire_link_resp", 77)]


def test_unknown_command_gets_generic_nack():
    """An unknown command_id is answered generic_nack ESME_RINVCMDID; the link stays."""
    s, wire, _ = bound_session()
    s.data_received(codec.encode_header_only(0x00000099, 12))
    (nack,) = wire.sent
    assert (nack.command, nack.status, nack.sequence) == ("generic_nack", 0x03, 12)
    assert s.state is State.BOUND


def test_bad_command_length_closes_the_link_with_the_reason():
    """A command_length of 8 drops the link, naming the length."""
    s, wire, _ = bound_session()
    s.data_received(b"\x00\x00\x00\x08" + b"\x00" * 12)
    assert "command_length 8" in wire.dropped[0]


def test_deliver_sm_resp_waits_for_the_handler():
    """deliver_sm_resp goes out only when the handler's Deferred fires (stored)."""
    pending = defer.Deferred()
    s, wire, _ = bound_session(on_deliver=lambda pdu: pending)
    s.data_received(codec.encode("deliver_sm", 40, source_addr="1", short_message=b"1"))
    assert wire.sent == []
    pending.callback(0)
    assert [(p.command, p.sequence, p.status) for p in wire.sent] == [("deliver_sm_resp", 40, 0)]


def test_deliver_sm_store_failure_asks_the_smsc_to_retry():
    """If storing fails, deliver_sm_resp carries ESME_RX_T_APPN so the SMSC resends."""
    s, wire, _ = bound_session(on_deliver=lambda pdu: defer.fail(RuntimeError("db down")))
    s.data_received(codec.encode("deliver_sm", 41, source_addr="1", short_message=b"1"))
    assert [(p.command, p.status) for p in wire.sent] == [("deliver_sm_resp", 0x64)]


def test_connection_lost_fails_every_request_in_the_window():
    """Requests in the window fail with LinkLost; state is closed."""
    s, _wire, _ = bound_session()
    d = s.send_request("submit_sm", destination_addr="1", short_message=b"a")
    s.connection_lost("peer closed")
    failures = []
    d.addErrback(failures.append)
    assert failures[0].check(LinkLost)
    assert s.state is State.CLOSED


def test_unbind_waits_for_unbind_resp_then_drops():
    """unbind → unbinding; unbind_resp → the link is dropped."""
    s, wire, _ = bound_session()
    s.unbind()
    assert s.state is State.UNBINDING
    assert wire.sent[-1].command == "unbind"
    s.data_received(codec.encode_header_only(0x80000006, wire.sent[-1].sequence))
    assert wire.dropped == ["unbound"]


def test_smsc_unbind_is_answered_and_closes():
    """The SMSC's unbind gets unbind_resp, then the link is dropped."""
    s, wire, _ = bound_session()
    s.data_received(codec.encode_header_only(0x06, 5))
    assert [(p.command, p.sequence) for p in wire.sent] == [("unbind_resp", 5)]
    assert wire.dropped


def test_late_response_is_logged_not_crashed():
    """A response to nothing in the window is ignored."""
    s, _wire, _ = bound_session()
    s.data_received(codec.encode("submit_sm_resp", 999, message_id="Z"))
    assert s.state is State.BOUND


@pytest.mark.parametrize("command", ["bind_transmitter", "bind_receiver"])
def test_pair_binds_use_their_own_command(command):
    """A transmitter or receiver session sends its own bind command."""
    clock, wire = Clock(), Wire()
    s = SmppSession(SETTINGS, command, clock, wire.write, wire.disconnect)
    s.connection_made()
    assert wire.sent[0].command == command


def proving_session():
    """A bound session whose deliver handler answers (0, token) with the PDU's sequence."""
    proven: list[object] = []
    s, wire, clock = bound_session(on_deliver=lambda pdu: (0, pdu.sequence))
    s.on_proven = proven.extend
    return s, wire, clock, proven


def deliver(seq: int) -> bytes:
    return codec.encode("deliver_sm", seq, source_addr="13812345678", short_message=b"1")


def test_a_resp_is_proven_by_the_response_to_a_later_request():
    """deliver_sm_resp, then submit_sm: its submit_sm_resp proves the SMSC read the resp."""
    s, wire, _, proven = proving_session()
    s.data_received(deliver(900))
    assert [p.command for p in wire.sent] == ["deliver_sm_resp"]
    assert proven == []
    s.send_request("submit_sm", destination_addr="13812345678", short_message=b"x")
    submit = wire.sent[-1]
    s.data_received(codec.encode("submit_sm_resp", submit.sequence, message_id="A"))
    assert proven == [900]


def test_a_request_written_before_the_resp_proves_nothing():
    """The response to a request written before the deliver_sm_resp says nothing about it."""
    s, wire, _, proven = proving_session()
    s.send_request("submit_sm", destination_addr="13812345678", short_message=b"x")
    submit = wire.sent[-1]
    s.data_received(deliver(901))
    s.data_received(codec.encode("submit_sm_resp", submit.sequence, message_id="A"))
    assert proven == []


def test_enquire_link_resp_proves_the_resps_of_an_idle_link():
    """With nothing to send, the next enquire_link's response is the proof."""
    s, wire, clock, proven = proving_session()
    s.data_received(deliver(902) + deliver(903))
    clock.advance(SETTINGS.enquire_link_interval)
    enquire = wire.sent[-1]
    assert enquire.command == "enquire_link"
    s.data_received(codec.encode_header_only(0x80000015, enquire.sequence))
    assert proven == [902, 903]


def test_a_later_response_proves_resps_before_an_unanswered_request():
    """Responses may come out of order: the second request's response proves both groups."""
    s, wire, _, proven = proving_session()
    s.data_received(deliver(904))
    s.send_request("submit_sm", destination_addr="13812345678", short_message=b"x")
    first = wire.sent[-1]
    s.data_received(deliver(905))
    s.send_request("submit_sm", destination_addr="13812345678", short_message=b"y")
    second = wire.sent[-1]
    s.data_received(codec.encode("submit_sm_resp", second.sequence, message_id="B"))
    assert proven == [904, 905]
    s.data_received(codec.encode("submit_sm_resp", first.sequence, message_id="A"))
    assert proven == [904, 905]


def test_resps_are_not_proven_when_the_link_goes_first():
    """Link lost before any later response: the resp may never have arrived; no proof."""
    s, _wire, _, proven = proving_session()
    s.data_received(deliver(906))
    d = s.send_request("submit_sm", destination_addr="13812345678", short_message=b"x")
    d.addErrback(lambda f: f.trap(LinkLost))
    s.connection_lost()
    assert proven == []


def test_an_error_answer_carries_no_token_until_written():
    """A handler still storing: no resp written, nothing to prove; the token joins on write."""
    pending: defer.Deferred = defer.Deferred()
    proven: list[object] = []
    s, wire, _ = bound_session(on_deliver=lambda pdu: pending)
    s.on_proven = proven.extend
    s.data_received(deliver(907))
    s.send_request("submit_sm", destination_addr="13812345678", short_message=b"x")
    first = wire.sent[-1]
    pending.callback((0, "row-1"))
    s.data_received(codec.encode("submit_sm_resp", first.sequence, message_id="A"))
    assert proven == []
    s.send_request("submit_sm", destination_addr="13812345678", short_message=b"y")
    s.data_received(codec.encode("submit_sm_resp", wire.sent[-1].sequence, message_id="B"))
    assert proven == ["row-1"]
