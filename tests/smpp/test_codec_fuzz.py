"""Hypothesis feeds random and mutated byte streams to the codec: nothing escapes, every bad
frame is reported as a DecodeError or FramingError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smpp import codec

VALID = [
    codec.encode(
        "deliver_sm",
        3,
        source_addr="13812345678",
        destination_addr="10690",
        esm_class=0x40,
        data_coding=8,
        short_message=bytes([5, 0, 3, 1, 2, 1]) + "回复".encode("utf-16-be"),
    ),
    codec.encode("submit_sm_resp", 4, message_id="0A1B"),
    codec.encode_header_only(0x15, 5),
    codec.encode("bind_transceiver_resp", 1, system_id="smsc"),
    codec.encode("deliver_sm", 9, esm_class=4, short_message=b"id:1 stat:DELIVRD")
    + codec.tlv(0x1E, b"1"),
]


def run(stream: bytes, cut: int) -> tuple[int, int]:
    framer = codec.Framer()
    good = bad = 0
    for chunk in (stream[:cut], stream[cut:]):
        try:
            frames = framer.feed(chunk)
        except codec.FramingError:
            return good, bad + 1
        for frame in frames:
            try:
                codec.decode(frame)
                good += 1
            except codec.DecodeError:
                bad += 1
    return good, bad


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=300))
def test_random_bytes_never_raise_anything_but_codec_errors(data, cut):
    """Arbitrary bytes: only FramingError/DecodeError, caught inside run()."""
    run(data, cut)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(min_value=0, max_value=200), st.integers(0, 255)), max_size=4),
    st.integers(min_value=0, max_value=120),
)
def test_mutated_pdus_are_decoded_or_reported(frame, flips, truncate):
    """Valid PDUs with flipped octets (length field kept, so frames stay cut) decode or are
    reported; nothing else escapes."""
    data = bytearray(frame)
    for pos, value in flips:
        if 4 <= pos < len(data):
            data[pos] = value
    good, bad = run(bytes(data), len(data) // 2)
    assert good + bad >= 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VALID), st.integers(min_value=1, max_value=40))
def test_truncated_body_is_reported_not_crashed(frame, cut):
    """A frame whose body is cut short (length rewritten to match) decodes or is a DecodeError."""
    body = frame[16 : max(16, len(frame) - cut)]
    data = (16 + len(body)).to_bytes(4, "big") + frame[4:16] + body
    good, bad = run(data, 3)
    assert good + bad == 1
