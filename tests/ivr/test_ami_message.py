"""The AMI codec, byte vector in, message out (and back)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.ami.message import (
    MAX_PACKET_BYTES,
    AmiFramingError,
    AmiMessage,
    AmiParser,
    Banner,
    encode_action,
)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def test_banner_is_the_first_item_and_carries_the_version() -> None:
    """The first line is reported as a Banner with its protocol version."""
    items = AmiParser().feed(BANNER)
    assert items == [Banner("Asterisk Call Manager/11.0.0")]
    assert items[0].version == "11.0.0"


def test_a_first_line_that_is_not_a_banner_is_an_error_naming_it() -> None:
    """Connecting to something that is not AMI fails loudly on line 1."""
    with pytest.raises(AmiFramingError, match=r"line 1 is not an AMI banner.*HTTP/1.1"):
        AmiParser().feed(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_packet_ends_at_the_blank_line() -> None:
    """Headers accumulate until CRLF CRLF, then one message is emitted."""
    p = AmiParser()
    p.feed(BANNER)
    assert p.feed(b"Response: Success\r\nActionID: pj-1\r\n") == []
    (msg,) = p.feed(b"Message: Authentication accepted\r\n\r\n")
    assert msg.response == "Success"
    assert msg.action_id == "pj-1"
    assert msg["Message"] == "Authentication accepted"


def test_bytes_split_anywhere_give_the_same_messages() -> None:
    """Feeding one byte at a time yields exactly what one feed yields."""
    data = BANNER + b"Event: Hangup\r\nUniqueid: a.1\r\nCause: 16\r\n\r\nEvent: X\r\n\r\n"
    whole = AmiParser().feed(data)
    p = AmiParser()
    pieces = [item for i in range(len(data)) for item in p.feed(data[i : i + 1])]
    assert pieces == whole
    assert len(whole) == 3


def test_repeated_keys_are_kept_in_wire_order() -> None:
    """Variable may repeat; every value survives, in order."""
    p = AmiParser(expect_banner=False)
    (msg,) = p.feed(b"Event: VarSet\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n")
    assert msg.get_all("variable") == ["A=1", "B=2"]
    assert msg.get("Variable") == "A=1"


def test_keys_are_case_insensitive() -> None:
    """Asterisk treats header names case-insensitively; so do we."""
    (msg,) = AmiParser(expect_banner=False).feed(b"event: Hangup\r\nuniqueid: 1.2\r\n\r\n")
    assert msg.event == "Hangup"
    assert msg["UniqueID"] == "1.2"


def test_bare_lf_line_ends_are_accepted() -> None:
    """A proxy that rewrites CRLF to LF does not break framing."""
    (msg,) = AmiParser(expect_banner=False).feed(b"Event: Hangup\nCause: 16\n\n")
    assert msg["Cause"] == "16"


def test_values_keep_colons_and_empty_values_stay_empty() -> None:
    """Only the first ': ' splits; an empty value is an empty string."""
    (msg,) = AmiParser(expect_banner=False).feed(
        b"Event: X\r\nChannel: PJSIP/1@a:b\r\nAccountCode: \r\n\r\n"
    )
    assert msg["Channel"] == "PJSIP/1@a:b"
    assert msg["AccountCode"] == ""


def test_lines_without_a_colon_are_kept_not_dropped() -> None:
    """Old command output lines are preserved in ``unparsed``."""
    (msg,) = AmiParser(expect_banner=False).feed(b"Response: Follows\r\nsome output\r\n\r\n")
    assert msg.unparsed == ("some output",)


def test_non_utf8_bytes_are_replaced_not_fatal() -> None:
    """A caller ID name in another charset does not kill the link."""
    (msg,) = AmiParser(expect_banner=False).feed(b"Event: X\r\nCallerIDName: \xb9\xab\r\n\r\n")
    assert "\ufffd" in msg["CallerIDName"]


def test_an_endless_line_is_refused() -> None:
    """A peer that never ends a line cannot make us buffer without bound."""
    p = AmiParser(expect_banner=False)
    with pytest.raises(AmiFramingError, match="exceeds"):
        p.feed(b"Event: " + b"x" * (MAX_PACKET_BYTES + 1))


def test_missing_header_error_names_the_key() -> None:
    """Indexing a missing key says which key and shows the packet."""
    msg = AmiMessage((("Event", "Hangup"),))
    with pytest.raises(KeyError, match="Cause"):
        msg["Cause"]


def test_encode_action_is_crlf_framed_with_action_first() -> None:
    """An action serializes to Action first, headers in order, blank-line terminated."""
    data = encode_action("Originate", [("ActionID", "x"), ("Variable", "A=1"), ("Variable", 2)])
    assert data == (b"Action: Originate\r\nActionID: x\r\nVariable: A=1\r\nVariable: 2\r\n\r\n")


def test_encode_refuses_line_breaks_in_values() -> None:
    """A CR/LF in a value could inject a second action; it is refused naming the header."""
    with pytest.raises(ValueError, match=r"'Channel'.*line break"):
        encode_action("Originate", [("Channel", "PJSIP/1\r\nAction: Logoff")])


def test_encode_then_parse_round_trips() -> None:
    """What we write, we read back identically."""
    headers = [("ActionID", "pj-7"), ("Variable", "A=1"), ("Variable", "B=中文")]
    (msg,) = AmiParser(expect_banner=False).feed(encode_action("Originate", headers))
    assert msg.headers == (("Action", "Originate"), *headers)


def test_redacted_masks_phone_numbers() -> None:
    """Dial strings and caller IDs in a logged packet show 138****5678, never the number."""
    msg = AmiMessage((("Channel", "PJSIP/13812345678@carrier"), ("CallerIDNum", "13812345678")))
    assert "13812345678" not in msg.redacted()
    assert "PJSIP/138****5678@carrier" in msg.redacted()


def test_redacted_hides_secrets() -> None:
    """The log rendering of a Login never shows the secret."""
    msg = AmiMessage((("Action", "Login"), ("Username", "u"), ("Secret", "hunter2")))
    assert "hunter2" not in msg.redacted()
    assert "Username: u" in msg.redacted()


_key = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True)
_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40
).map(lambda v: v.strip(" ") or "x")
_headers = st.lists(st.tuples(_key, _value), min_size=0, max_size=8)


@settings(max_examples=200, deadline=None)
@given(packets=st.lists(_headers, min_size=1, max_size=5), cuts=st.lists(st.integers(0, 400)))
def test_any_split_of_any_packets_parses_to_what_was_encoded(packets, cuts) -> None:
    """Property: encode, cut the bytes anywhere, feed the pieces: the same packets come out."""
    data = b"".join(encode_action("Ping", h) for h in packets)
    points = sorted({c % (len(data) + 1) for c in cuts})
    parser = AmiParser(expect_banner=False)
    out = []
    last = 0
    for p in [*points, len(data)]:
        out += parser.feed(data[last:p])
        last = p
    assert [m.headers for m in out] == [(("Action", "Ping"), *h) for h in packets]


def test_packets_before_bytes_that_are_not_ami_are_still_returned() -> None:
    """A reply and then an endless line in one read: the reply comes out, the next feed
    raises, and ``broken`` says what and where."""
    p = AmiParser(expect_banner=False)
    (reply,) = p.feed(b"Response: Success\r\nActionID: 7\r\n\r\nX: " + b"y" * MAX_PACKET_BYTES)
    assert reply.action_id == "7"
    assert p.broken is not None and "after line 3" in p.broken
    with pytest.raises(AmiFramingError, match="exceeds"):
        p.feed(b"\r\n")


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=300), cut=st.integers(0, 400))
def test_any_octets_after_a_reply_never_lose_the_reply(junk, cut) -> None:
    """Property: whatever follows a reply, split anywhere, the reply is returned before any
    framing error, and nothing but AmiFramingError escapes."""
    data = b"Response: Success\r\nActionID: 7\r\n\r\n" + junk
    cut %= len(data) + 1
    parser = AmiParser(expect_banner=False)
    out = []
    for piece in (data[:cut], data[cut:]):
        try:
            out += parser.feed(piece)
        except AmiFramingError:
            break
    assert out and out[0].action_id == "7"
