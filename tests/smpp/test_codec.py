"""The sans-IO codec, with byte vectors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smpp import codec

# enquire_link seq 7, and its response
ENQUIRE = bytes.fromhex("00000010000000150000000000000007")
ENQUIRE_RESP = bytes.fromhex("00000010800000150000000000000007")
# submit_sm_resp seq 5, message_id "abc"
SUBMIT_RESP = bytes.fromhex("00000014800000040000000000000005") + b"abc\0"


def with_length(body_after_header: bytes, command_id: int, seq: int, status: int = 0) -> bytes:
    return struct.pack(">LLLL", 16 + len(body_after_header), command_id, status, seq) + (
        body_after_header
    )


def deliver_body(esm_class: int, short_message: bytes, data_coding: int = 0) -> bytes:
    return (
        b"\0"  # service_type
        + b"\x01\x01" + b"13812345678\0"
        + b"\x00\x01" + b"106900001234\0"
        + bytes([esm_class, 0, 0]) + b"\0" + b"\0"  # pid, priority, sched, validity
        + bytes([0, 0, data_coding, 0, len(short_message)]) + short_message
    )  # fmt: skip


def test_framer_returns_nothing_until_a_whole_pdu_arrived():
    """A PDU split over three reads comes out once, whole."""
    f = codec.Framer()
    assert f.feed(SUBMIT_RESP[:3]) == []
    assert f.feed(SUBMIT_RESP[3:17]) == []
    assert f.feed(SUBMIT_RESP[17:]) == [SUBMIT_RESP]


def test_framer_cuts_several_pdus_from_one_read():
    """Two and a half PDUs in one read: two come out, the half waits."""
    f = codec.Framer()
    assert f.feed(ENQUIRE + SUBMIT_RESP + ENQUIRE[:5]) == [ENQUIRE, SUBMIT_RESP]
    assert f.feed(ENQUIRE[5:]) == [ENQUIRE]


@pytest.mark.parametrize("length", [0, 15, 64 * 1024 + 1, 0xFFFFFFFF])
def test_framer_refuses_a_length_outside_16_to_64k(length):
    """A command_length outside 16..64 KiB is a FramingError naming the length."""
    f = codec.Framer()
    with pytest.raises(codec.FramingError, match=str(length)):
        f.feed(struct.pack(">L", length) + b"\0" * 12)


def test_framer_delivers_good_frames_before_reporting_a_bad_one():
    """The frames before a bad length are delivered; the next feed reports the break."""
    f = codec.Framer()
    assert f.feed(ENQUIRE + struct.pack(">L", 3)) == [ENQUIRE]
    assert f.broken is not None
    with pytest.raises(codec.FramingError):
        f.feed(b"")


def test_decode_submit_sm_resp_reads_message_id_as_text():
    """submit_sm_resp's message_id comes back as str."""
    pdu = codec.decode(SUBMIT_RESP)
    assert (pdu.command, pdu.sequence, pdu.status) == ("submit_sm_resp", 5, 0)
    assert pdu.text_field("message_id") == "abc"


def test_decode_accepts_an_error_response_without_body():
    """An error submit_sm_resp may come without a message_id at all."""
    pdu = codec.decode(with_length(b"", 0x80000004, 9, status=0x58))
    assert pdu.status == 0x58
    assert pdu.text_field("message_id") == ""


def test_encode_submit_sm_matches_the_specification_layout():
    """submit_sm built by smpplib has the exact SMPP 3.4 layout, TLVs after the message."""
    data = codec.encode(
        "submit_sm",
        3,
        source_addr="10690",
        destination_addr="13812345678",
        esm_class=0,
        registered_delivery=1,
        data_coding=8,
        short_message="您好".encode("utf-16-be"),
        sar_msg_ref_num=0x0102,
        sar_total_segments=2,
        sar_segment_seqnum=1,
    )
    expected_body = (
        b"\0" + b"\0\0" + b"10690\0" + b"\0\0" + b"13812345678\0"
        + b"\x00\x00\x00" + b"\0" + b"\0" + b"\x01\x00\x08\x00"
        + b"\x04" + "您好".encode("utf-16-be")
        + bytes.fromhex("020c00020102" "020e000102" "020f000101")
    )  # fmt: skip
    assert data == struct.pack(">LLLL", 16 + len(expected_body), 4, 0, 3) + expected_body


def test_decode_reads_a_cstring_tlv_without_its_trailing_nul():
    """receipted_message_id sent without NUL keeps its last character (smpplib would drop it)."""
    body = deliver_body(0x04, b"id:1 stat:DELIVRD") + codec.tlv(0x001E, b"ABCDEF")
    pdu = codec.decode(with_length(body, 0x00000005, 2))
    assert pdu.get("receipted_message_id") == b"ABCDEF"
    assert pdu.tlvs[0x001E] == b"ABCDEF"


def test_decode_keeps_unknown_tlvs_raw():
    """A vendor TLV smpplib does not know is kept, not an error."""
    body = deliver_body(0, b"1") + codec.tlv(0x1401, b"\x01\x02")
    pdu = codec.decode(with_length(body, 0x00000005, 2))
    assert pdu.tlvs == {0x1401: b"\x01\x02"}
    assert pdu.get("short_message") == b"1"


def test_decode_reports_an_unknown_command_with_its_sequence():
    """An unknown command_id is UnknownCommandError carrying the sequence for generic_nack."""
    with pytest.raises(codec.UnknownCommandError) as info:
        codec.decode(with_length(b"", 0x00000099, 42))
    assert info.value.sequence == 42
    assert "0x00000099" in str(info.value)


def test_decode_reports_a_cstring_without_nul():
    """A C-string that runs to the end of the body is named in the error."""
    with pytest.raises(codec.DecodeError, match="service_type"):
        codec.decode(with_length(b"abc", 0x00000005, 1))


def test_decode_reports_a_short_message_longer_than_the_body():
    """sm_length pointing past the end names short_message."""
    body = deliver_body(0, b"hello")[:-2]
    with pytest.raises(codec.DecodeError, match="short_message"):
        codec.decode(with_length(body, 0x00000005, 1))


def test_decode_reports_a_truncated_tlv():
    """A TLV whose length runs past the end is a DecodeError naming the tag."""
    body = deliver_body(0, b"1") + struct.pack(">HH", 0x0427, 4) + b"\x01"
    with pytest.raises(codec.DecodeError, match="0x0427"):
        codec.decode(with_length(body, 0x00000005, 1))


def test_decode_refuses_a_frame_whose_length_disagrees():
    """The header's command_length must equal the frame size."""
    with pytest.raises(codec.DecodeError, match="command_length"):
        codec.decode(ENQUIRE + b"\0")


def test_generic_nack_bytes():
    """generic_nack is a bare header with the status and the offending sequence."""
    assert codec.encode_generic_nack(7, 3) == bytes.fromhex("00000010800000000000000300000007")


def test_empty_id_response_matches_smpplib():
    """The fast deliver_sm_resp equals what smpplib generates."""
    assert codec.encode_empty_id_resp(0x80000005, 9, 0) == codec.encode(
        "deliver_sm_resp", 9, message_id=""
    )


addr = st.text(alphabet="0123456789", max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(1, 0x7FFFFFFF),
    src=addr,
    dst=addr,
    esm=st.sampled_from([0, 0x40]),
    reg=st.integers(0, 1),
    dc=st.sampled_from([0, 8]),
    validity=st.sampled_from([None, "000001000000000R"]),
    sm=st.binary(max_size=140),
    sar=st.one_of(st.none(), st.tuples(st.integers(0, 65535), st.integers(1, 255))),
    tons=st.tuples(*[st.integers(0, 6)] * 4),
)
def test_fast_submit_sm_is_byte_equal_to_smpplib(
    seq, src, dst, esm, reg, dc, validity, sm, sar, tons
):
    """encode_submit_sm produces exactly smpplib's bytes for every field combination we use."""
    fields = dict(
        source_addr_ton=tons[0], source_addr_npi=tons[1], source_addr=src or None,
        dest_addr_ton=tons[2], dest_addr_npi=tons[3], destination_addr=dst,
        esm_class=esm, registered_delivery=reg, data_coding=dc,
        validity_period=validity, short_message=sm,
    )  # fmt: skip
    if sar is not None:
        fields.update(sar_msg_ref_num=sar[0], sar_total_segments=sar[1], sar_segment_seqnum=1)
    assert codec.encode_submit_sm(seq, **fields) == codec.encode("submit_sm", seq, **fields)


def test_fast_submit_sm_refuses_an_overlong_address():
    """A 21-digit destination is an error naming the field, not silently truncated."""
    with pytest.raises(ValueError, match="destination_addr"):
        codec.encode_submit_sm(1, destination_addr="1" * 21)


def _deliver_body(cstrs, octets, sm, tail):
    service_type, src, dst, schedule, validity = cstrs
    return b"".join(
        (
            service_type + b"\0",
            bytes(octets[0:2]),
            src + b"\0",
            bytes(octets[2:4]),
            dst + b"\0",
            bytes(octets[4:7]),
            schedule + b"\0",
            validity + b"\0",
            bytes(octets[7:11]),
            bytes((len(sm) if octets[11] is None else octets[11],)),
            sm,
            tail,
        )
    )


def _generic(body: bytes):
    try:
        return codec._walk(codec._layout(codec.DELIVER_SM), body, codec.DELIVER_SM, 1)
    except codec.DecodeError as exc:
        return str(exc)


def _fast(body: bytes):
    fast = codec._deliver_sm_fields(body)
    if fast is None:
        return None
    values, pos = fast
    layout = codec._layout(codec.DELIVER_SM)
    try:
        return values, codec._read_tlvs(layout, body, pos, values, codec.DELIVER_SM, 1)
    except codec.DecodeError as exc:
        return str(exc)


cstr = st.binary(max_size=24).map(lambda b: b.replace(b"\0", b"x"))


@settings(max_examples=500, deadline=None)
@given(
    cstrs=st.tuples(cstr, cstr, cstr, cstr, cstr),
    octets=st.tuples(*[st.integers(0, 255)] * 11, st.one_of(st.none(), st.integers(0, 255))),
    sm=st.binary(max_size=160),
    tail=st.binary(max_size=12),
    cut=st.one_of(st.none(), st.integers(0, 400)),
)
def test_fast_deliver_sm_read_agrees_with_the_generic_walk(cstrs, octets, sm, tail, cut):
    """For well-formed, over-long, truncated and trailing-garbage bodies alike, the fast read
    gives the generic walk's fields, or gives up and leaves the generic walk to decide."""
    body = _deliver_body(cstrs, octets, sm, tail)
    if cut is not None:
        body = body[:cut]
    fast = _fast(body)
    if fast is not None:
        assert fast == _generic(body)


def test_fast_deliver_sm_read_takes_a_real_receipt():
    """The common shape (a receipt with TLVs) is read by the fast path."""
    frame = codec.encode(
        "deliver_sm", 7, source_addr="13812345678", destination_addr="10690", esm_class=4,
        short_message=b"id:1 sub:001 dlvrd:001 stat:DELIVRD err:000",
        receipted_message_id="1", message_state=2,
    )  # fmt: skip
    fast = codec._deliver_sm_fields(frame[16:])
    assert fast is not None
    pdu = codec.decode(frame)
    assert pdu.get("esm_class") == 4
    assert pdu.get("short_message").startswith(b"id:1 ")
    assert pdu.tlvs[codec.TAG_RECEIPTED_MESSAGE_ID] == b"1\0"
    assert (pdu.get("receipted_message_id"), pdu.get("message_state")) == (b"1", 2)


def test_deliver_sm_with_an_empty_short_message_and_no_tlvs_is_valid():
    """sm_length 0 with nothing after it is a legal body (SMPP 3.4 5.2.21: 0-254 octets); the
    generic walk once refused it as ending before short_message."""
    body = _deliver_body((b"",) * 5, (0,) * 11 + (None,), b"", b"")
    assert _generic(body)[0]["short_message"] == b""
    assert _fast(body) == _generic(body)
