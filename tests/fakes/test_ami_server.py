"""The fake AMI server itself: exact bytes for banner, login, Originate and the event order."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from tests.fakes.ami_server import (
    Answer,
    Busy,
    Congestion,
    Failed,
    FakeAmiFactory,
    NoAnswer,
    NoResponse,
    Unreachable,
)

LOGIN = b"Action: Login\r\nActionID: 1\r\nUsername: pingjing\r\nSecret: s3cret\r\n\r\n"


def packets(data: bytes) -> list[dict[str, str]]:
    """Split raw bytes into packets (banner excluded), independent of ivr.ami.message."""
    out = []
    for block in data.split(b"\r\n\r\n"):
        lines = [ln for ln in block.decode().split("\r\n") if ln and ": " in ln]
        if lines:
            out.append(dict(ln.split(": ", 1) for ln in lines))
    return out


def connect(factory: FakeAmiFactory) -> tuple[object, StringTransport]:
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def logged_in(script=None) -> tuple[FakeAmiFactory, object, StringTransport, Clock]:
    clock = Clock()
    factory = FakeAmiFactory(clock=clock, script=script or {})
    proto, transport = connect(factory)
    proto.dataReceived(LOGIN)
    transport.clear()
    return factory, proto, transport, clock


def originate(proto, number: str, action_id: str = "c-1", timeout_ms: int = 30000) -> None:
    proto.dataReceived(
        (
            f"Action: Originate\r\nActionID: {action_id}\r\nChannel: PJSIP/{number}@carrier\r\n"
            f"Context: pingjing-callback\r\nExten: s\r\nPriority: 1\r\nTimeout: {timeout_ms}\r\n"
            f"Async: true\r\nChannelId: {action_id}\r\n"
            "Variable: PINGJING_CALLBACK_ID=7\r\nVariable: PINGJING_ATTEMPT_ID=9\r\n\r\n"
        ).encode()
    )


def events(transport: StringTransport, name: str) -> list[dict[str, str]]:
    return [p for p in packets(transport.value()) if p.get("Event") == name]


def test_banner_is_written_on_connect_byte_for_byte() -> None:
    """The first bytes are the Asterisk 22 banner line."""
    _, transport = connect(FakeAmiFactory(clock=Clock()))
    assert transport.value() == b"Asterisk Call Manager/11.0.0\r\n"


def test_login_with_the_right_secret_is_accepted() -> None:
    """A correct Login gets Success with our ActionID and Authentication accepted."""
    proto, transport = connect(FakeAmiFactory(clock=Clock()))
    transport.clear()
    proto.dataReceived(LOGIN)
    assert transport.value().startswith(
        b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
    )


def test_login_with_a_wrong_secret_is_refused_and_closed() -> None:
    """A bad secret gets Authentication failed and the connection is dropped."""
    proto, transport = connect(FakeAmiFactory(clock=Clock()))
    transport.clear()
    proto.dataReceived(LOGIN.replace(b"s3cret", b"wrong"))
    assert b"Message: Authentication failed" in transport.value()
    assert transport.disconnecting


def test_actions_before_login_are_denied() -> None:
    """An Originate before Login is refused with Permission denied."""
    proto, transport = connect(FakeAmiFactory(clock=Clock()))
    transport.clear()
    originate(proto, "13812345678")
    assert packets(transport.value())[0]["Message"] == "Permission denied"


def test_originate_async_is_always_queued_first() -> None:
    """Even a call that will fail is first answered 'Originate successfully queued'."""
    _, proto, transport, _ = logged_in({"13812345678": [Unreachable()]})
    originate(proto, "13812345678")
    assert packets(transport.value())[0] == {
        "Response": "Success",
        "ActionID": "c-1",
        "Message": "Originate successfully queued",
    }


def test_originate_without_async_is_a_bare_error() -> None:
    """Without Async the only reply is Originate failed."""
    _, proto, transport, _ = logged_in()
    proto.dataReceived(
        b"Action: Originate\r\nActionID: 5\r\nChannel: PJSIP/13812345678@carrier\r\n\r\n"
    )
    assert packets(transport.value())[0]["Message"] == "Originate failed"


def test_answered_call_sends_reason_4_then_hangup_16() -> None:
    """Answer: OriginateResponse Success/Reason 4 with ChannelId as Uniqueid, later Hangup 16."""
    _, proto, transport, clock = logged_in(
        {"13812345678": [Answer(ring_seconds=2, talk_seconds=10)]}
    )
    originate(proto, "13812345678")
    clock.advance(2)
    (resp,) = events(transport, "OriginateResponse")
    assert (resp["Response"], resp["Reason"], resp["Uniqueid"]) == ("Success", "4", "c-1")
    assert resp["Channel"].startswith("PJSIP/carrier-")
    assert events(transport, "Hangup") == []
    clock.advance(10)
    (hangup,) = events(transport, "Hangup")
    assert (hangup["Uniqueid"], hangup["Cause"]) == ("c-1", "16")


def test_variables_show_up_as_varset_events() -> None:
    """Each Variable header becomes a channel variable (VarSet on the new channel)."""
    factory, proto, transport, _ = logged_in()
    originate(proto, "13812345678")
    varsets = {e["Variable"]: e["Value"] for e in events(transport, "VarSet")}
    assert varsets == {"PINGJING_CALLBACK_ID": "7", "PINGJING_ATTEMPT_ID": "9"}
    assert factory.originates[0].variables == varsets


def test_busy_hangs_up_both_legs_before_reason_5() -> None:
    """Busy: two Hangups (ours with cause 0) come before OriginateResponse Reason 5."""
    _, proto, transport, clock = logged_in({"13812345678": [Busy()]})
    originate(proto, "13812345678")
    clock.advance(1)
    names = [p.get("Event") for p in packets(transport.value()) if "Event" in p]
    assert names[-3:] == ["Hangup", "Hangup", "OriginateResponse"]
    ours = [h for h in events(transport, "Hangup") if h["Uniqueid"] == "c-1"]
    assert ours[0]["Cause"] == "0"
    (resp,) = events(transport, "OriginateResponse")
    assert (resp["Reason"], resp["Channel"]) == ("5", "PJSIP/13812345678@carrier")


def test_congestion_is_reason_8() -> None:
    """Congestion reports Reason 8."""
    _, proto, transport, clock = logged_in({"13812345678": [Congestion()]})
    originate(proto, "13812345678")
    clock.advance(1)
    assert events(transport, "OriginateResponse")[0]["Reason"] == "8"


def test_no_answer_is_reason_3_after_the_originate_timeout() -> None:
    """Ringing until Timeout gives Reason 3, not earlier."""
    _, proto, transport, clock = logged_in({"13812345678": [NoAnswer()]})
    originate(proto, "13812345678", timeout_ms=20000)
    clock.advance(19.9)
    assert events(transport, "OriginateResponse") == []
    clock.advance(0.1)
    assert events(transport, "OriginateResponse")[0]["Reason"] == "3"


def test_failed_is_reason_0_with_the_dial_string_and_a_hangup_cause() -> None:
    """Reason 0: Channel is the dial string; the Hangup carries the real cause."""
    _, proto, transport, clock = logged_in({"13812345678": [Failed(cause=21)]})
    originate(proto, "13812345678")
    clock.advance(1)
    (resp,) = events(transport, "OriginateResponse")
    assert (resp["Reason"], resp["Channel"]) == ("0", "PJSIP/13812345678@carrier")
    assert events(transport, "Hangup")[0]["Cause"] == "21"


def test_unreachable_is_reason_0_without_any_hangup() -> None:
    """No channel at all: Reason 0 and no Hangup event."""
    _, proto, transport, clock = logged_in({"13812345678": [Unreachable()]})
    originate(proto, "13812345678")
    clock.advance(1)
    assert events(transport, "OriginateResponse")[0]["Reason"] == "0"
    assert events(transport, "Hangup") == []


def test_no_response_step_stays_silent() -> None:
    """NoResponse queues the call and never reports on it."""
    _, proto, transport, clock = logged_in({"13812345678": [NoResponse()]})
    originate(proto, "13812345678")
    clock.advance(3600)
    assert events(transport, "OriginateResponse") == []


def test_steps_are_consumed_per_call_and_the_last_repeats() -> None:
    """Busy then Answer: the first call is busy, the second and third are answered."""
    _, proto, transport, clock = logged_in({"13812345678": [Busy(), Answer()]})
    for i in range(3):
        originate(proto, "13812345678", action_id=f"c-{i}")
        clock.advance(5)
    reasons = [e["Reason"] for e in events(transport, "OriginateResponse")]
    assert reasons == ["5", "4", "4"]


def test_core_show_channels_lists_live_channels_as_asterisk_22_does() -> None:
    """Success with ``EventList: start``, one CoreShowChannel per channel carrying the
    ActionID, then CoreShowChannelsComplete with ``EventList: Complete`` and ``ListItems``."""
    from twisted.internet.task import Clock

    from tests.fakes.ami_server import Answer, FakeAmiFactory, _FakeCall

    clock = Clock()
    factory = FakeAmiFactory(clock=clock)
    session = factory.buildProtocol(None)
    written: list[bytes] = []

    class Transport:
        def write(self, data: bytes) -> None:
            written.append(data)

        def loseConnection(self) -> None:
            pass

    session.makeConnection(Transport())
    session.authenticated = True
    call = _FakeCall(factory, {"channelid": "pj-1-abc", "context": "cb"}, "pj-1-abc", "", "1", {})
    call.run(Answer(ring_seconds=1, talk_seconds=10))
    written.clear()
    session._action([("Action", "CoreShowChannels"), ("ActionID", "q1")])
    packets = [p for p in b"".join(written).decode().split("\r\n\r\n") if p]
    heads = [dict(line.split(": ", 1) for line in p.split("\r\n")) for p in packets]
    assert heads[0] == {
        "Response": "Success",
        "ActionID": "q1",
        "EventList": "start",
        "Message": "Channels will follow",
    }
    assert heads[1]["Event"] == "CoreShowChannel" and heads[1]["ActionID"] == "q1"
    assert (heads[1]["Uniqueid"], heads[1]["ChannelStateDesc"]) == ("pj-1-abc", "Ringing")
    assert heads[2] == {
        "Event": "CoreShowChannelsComplete",
        "ActionID": "q1",
        "EventList": "Complete",
        "ListItems": "1",
    }
    clock.advance(1)
    written.clear()
    session._action([("Action", "CoreShowChannels"), ("ActionID", "q2")])
    assert "ChannelStateDesc: Up" in b"".join(written).decode()
    clock.advance(10)  # hung up: no longer listed
    written.clear()
    session._action([("Action", "CoreShowChannels"), ("ActionID", "q3")])
    assert "ListItems: 0" in b"".join(written).decode()
