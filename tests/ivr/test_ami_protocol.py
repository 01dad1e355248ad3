"""The AMI protocol over a StringTransport: login, ActionID matching, deadlines, events."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from ivr.ami.api import AmiActionError, AmiConnectionLostError, AmiLoginError, AmiTimeoutError
from ivr.ami.message import AmiMessage, AmiParser
from ivr.ami.protocol import AmiProtocol, AmiState

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


@pytest.fixture
def wire() -> tuple[AmiProtocol, StringTransport, Clock]:
    clock = Clock()
    proto = AmiProtocol(clock, action_timeout=5.0)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport, clock


def sent(transport: StringTransport) -> list[AmiMessage]:
    msgs = AmiParser(expect_banner=False).feed(transport.value())
    transport.clear()
    return [m for m in msgs if isinstance(m, AmiMessage)]


def test_login_waits_for_the_banner(wire) -> None:
    """Nothing is written before the banner; then a Login with Username and Secret."""
    proto, transport, _ = wire
    proto.login("pingjing", "pw")
    assert transport.value() == b""
    proto.dataReceived(BANNER)
    (login,) = sent(transport)
    assert login["Action"] == "Login"
    assert login["Username"] == "pingjing"
    assert login["Secret"] == "pw"
    assert proto.state is AmiState.LOGGING_IN


def test_login_success_makes_the_protocol_ready(wire) -> None:
    """A Success reply with our ActionID completes login."""
    proto, transport, _ = wire
    d = proto.login("pingjing", "pw")
    proto.dataReceived(BANNER)
    (login,) = sent(transport)
    proto.dataReceived(
        f"Response: Success\r\nActionID: {login.action_id}\r\n"
        "Message: Authentication accepted\r\n\r\n".encode()
    )
    assert proto.state is AmiState.READY
    assert d.called


def test_login_refusal_is_a_login_error_without_the_secret(wire) -> None:
    """Authentication failed becomes AmiLoginError naming the user, never the secret."""
    proto, transport, _ = wire
    d = proto.login("pingjing", "hunter2")
    proto.dataReceived(BANNER)
    (login,) = sent(transport)
    proto.dataReceived(
        f"Response: Error\r\nActionID: {login.action_id}\r\n"
        "Message: Authentication failed\r\n\r\n".encode()
    )
    failure = []
    d.addErrback(failure.append)
    assert failure[0].check(AmiLoginError)
    assert "pingjing" in str(failure[0].value)
    assert "hunter2" not in str(failure[0].value)


def test_replies_are_matched_by_action_id_not_order(wire) -> None:
    """Two actions answered in reverse order each get their own reply."""
    proto, transport, _ = wire
    proto.dataReceived(BANNER)
    d1 = proto.send_action("Ping")
    d2 = proto.send_action("Ping")
    a1, a2 = (m.action_id for m in sent(transport))
    proto.dataReceived(f"Response: Success\r\nActionID: {a2}\r\nPing: two\r\n\r\n".encode())
    proto.dataReceived(f"Response: Success\r\nActionID: {a1}\r\nPing: one\r\n\r\n".encode())
    assert d1.result["Ping"] == "one"
    assert d2.result["Ping"] == "two"


def test_error_response_fails_the_action(wire) -> None:
    """Response: Error becomes AmiActionError carrying the message."""
    proto, transport, _ = wire
    proto.dataReceived(BANNER)
    d = proto.send_action("Originate")
    (a,) = sent(transport)
    proto.dataReceived(
        f"Response: Error\r\nActionID: {a.action_id}\r\nMessage: Permission denied\r\n\r\n".encode()
    )
    errors: list[Failure] = []
    d.addErrback(errors.append)
    assert errors[0].check(AmiActionError)
    assert "Permission denied" in str(errors[0].value)


def test_no_reply_before_the_deadline_is_a_timeout(wire) -> None:
    """The clock, not real time, fails an unanswered action after action_timeout."""
    proto, _, clock = wire
    proto.dataReceived(BANNER)
    d = proto.send_action("Ping")
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.2)
    errors: list[Failure] = []
    d.addErrback(errors.append)
    assert errors[0].check(AmiTimeoutError)


def test_a_late_reply_after_the_timeout_is_ignored(wire) -> None:
    """A reply arriving after its deadline does not fire anything twice."""
    proto, transport, clock = wire
    proto.dataReceived(BANNER)
    d = proto.send_action("Ping")
    (a,) = sent(transport)
    clock.advance(6)
    d.addErrback(lambda f: None)
    proto.dataReceived(f"Response: Success\r\nActionID: {a.action_id}\r\n\r\n".encode())
    assert d.called


def test_connection_lost_fails_outstanding_actions(wire) -> None:
    """Every waiting action fails with AmiConnectionLostError and its timer is cancelled."""
    proto, _, clock = wire
    proto.dataReceived(BANNER)
    d = proto.send_action("Ping")
    proto.connectionLost(None)
    errors: list[Failure] = []
    d.addErrback(errors.append)
    assert errors[0].check(AmiConnectionLostError)
    assert clock.getDelayedCalls() == []
    assert proto.state is AmiState.CLOSED


def test_events_reach_every_observer_even_if_one_raises(wire) -> None:
    """An observer that raises is logged and the next one still sees the event."""
    proto, _, _ = wire
    seen: list[str] = []

    def bad(event: AmiMessage) -> None:
        raise RuntimeError("boom")

    proto.add_event_observer(bad)
    proto.add_event_observer(lambda e: seen.append(e.event))
    proto.dataReceived(BANNER + b"Event: Hangup\r\nUniqueid: 1\r\n\r\n")
    assert seen == ["Hangup"]


def test_a_framing_error_drops_the_connection(wire) -> None:
    """Garbage instead of a banner closes the connection instead of guessing."""
    proto, transport, _ = wire
    proto.dataReceived(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert transport.disconnecting


def test_a_reply_in_the_same_read_as_garbage_is_delivered_before_the_drop(wire) -> None:
    """The reply before an endless line settles its action; then the link is dropped."""
    from ivr.ami.message import MAX_PACKET_BYTES

    proto, transport, _ = wire
    proto.dataReceived(BANNER)
    d = proto.send_action("Ping", action_id="7")
    replies = []
    d.addCallback(replies.append)
    proto.dataReceived(
        b"Response: Success\r\nActionID: 7\r\n\r\nX: " + b"y" * (MAX_PACKET_BYTES + 1)
    )
    assert [r.response for r in replies] == ["Success"]
    assert transport.disconnecting
