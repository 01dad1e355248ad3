"""Choosing GSM 03.38 or UCS2, and splitting long texts without breaking characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.smpp import encoding as enc

SURVEY = "【某市公安局】您好，请对民警的服务进行评价：回复1满意，2基本满意，3不满意。"


def test_gsm_text_uses_data_coding_0_and_one_octet_per_septet():
    """Plain Latin text goes as GSM 03.38, one unpacked septet per octet."""
    (part,) = enc.make_parts("Hello @ home")
    assert part.data_coding == 0
    assert part.short_message == b"Hello \x00 home"


def test_gsm_extension_characters_take_an_escape():
    """€ and { are ESC + code."""
    assert enc.gsm_encode("€{") == b"\x1b\x65\x1b\x28"


def test_chinese_text_uses_ucs2():
    """A Chinese survey goes as UTF-16BE with data_coding 8."""
    (part,) = enc.make_parts(SURVEY)
    assert part.data_coding == 8
    assert part.short_message == SURVEY.encode("utf-16-be")


@pytest.mark.parametrize(
    ("text", "parts"),
    [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3)],
)
def test_gsm_limits_are_160_single_and_153_concatenated(text, parts):
    """160 septets fit one SMS; beyond, 153 per part."""
    assert len(enc.make_parts(text)) == parts


@pytest.mark.parametrize(
    ("text", "parts"),
    [("好" * 70, 1), ("好" * 71, 2), ("好" * 134, 2), ("好" * 135, 3)],
)
def test_ucs2_limits_are_70_single_and_67_concatenated(text, parts):
    """70 code units fit one SMS; beyond, 67 per part."""
    assert len(enc.make_parts(text)) == parts


def test_udh8_header_carries_reference_total_and_number():
    """An 8-bit concatenation UDH: 05 00 03 ref total n, esm_class UDHI."""
    parts = enc.make_parts("好" * 100, "udh8", reference=0x1FF)
    assert [p.short_message[:6] for p in parts] == [
        bytes([5, 0, 3, 0xFF, 2, 1]),
        bytes([5, 0, 3, 0xFF, 2, 2]),
    ]
    assert all(p.esm_class == 0x40 for p in parts)


def test_udh16_header_carries_a_16_bit_reference():
    """A 16-bit UDH: 06 08 04 ref_hi ref_lo total n, 66 code units per part."""
    parts = enc.make_parts("好" * 133, "udh16", reference=0x1234)
    assert parts[0].short_message[:7] == bytes([6, 8, 4, 0x12, 0x34, 3, 1])
    assert len(parts[0].short_message) == 7 + 66 * 2


def test_sar_parts_have_no_udh():
    """With SAR the short_message is pure text; the reference goes to the TLVs."""
    parts = enc.make_parts("好" * 100, "sar", reference=70000)
    assert all(p.sar and p.esm_class == 0 for p in parts)
    assert parts[0].reference == 70000 % 65536
    assert b"".join(p.short_message for p in parts) == ("好" * 100).encode("utf-16-be")


def test_emoji_is_never_split_across_parts():
    """A surrogate pair at the 67-unit boundary moves whole into the next part."""
    text = "好" * 66 + "😀" + "好" * 10
    parts = enc.split_text(text, gsm=False)
    assert parts[0] == "好" * 66
    assert parts[1].startswith("😀")
    for chunk in parts:
        chunk.encode("utf-16-be").decode("utf-16-be")  # each part decodes alone


def test_gsm_escape_is_never_split_across_parts():
    """An escape sequence at the 153-septet boundary moves whole into the next part."""
    text = "a" * 152 + "€" + "b" * 20
    parts = enc.split_text(text, gsm=True)
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")


def test_mixed_gsm_and_chinese_goes_ucs2():
    """One Chinese character makes the whole message UCS2."""
    parts = enc.make_parts("Reply 1 for 满意 " + "x" * 60)
    assert {p.data_coding for p in parts} == {8}
    assert len(parts) == 2


def test_empty_text_is_refused_with_a_reason():
    """An empty text is an EncodingError, not an empty SMS."""
    with pytest.raises(enc.EncodingError, match="empty"):
        enc.make_parts("")


@given(st.text(min_size=1, max_size=600))
def test_any_text_round_trips_through_its_parts(text):
    """Whatever the text, the parts decode back to it and each fits one SMS."""
    parts = enc.make_parts(text, "udh8", reference=3)
    data = b""
    for p in parts:
        payload = p.short_message
        if p.esm_class & 0x40:
            payload, concat = enc.split_udh(payload)
            assert concat is not None
        assert len(p.short_message) <= 140 or p.data_coding == 0
        data += payload
    assert enc.decode_text(data, parts[0].data_coding) == text


def test_split_udh_reads_8_and_16_bit_references():
    """Both concatenation IEs are understood."""
    assert enc.split_udh(bytes([5, 0, 3, 9, 3, 2]) + b"x") == (b"x", enc.Concat(9, 3, 2))
    assert enc.split_udh(bytes([6, 8, 4, 1, 2, 3, 1]) + b"y") == (b"y", enc.Concat(0x102, 3, 1))


def test_split_udh_reports_a_header_longer_than_the_message():
    """A UDH length past the end is an EncodingError naming the length."""
    with pytest.raises(enc.EncodingError, match="UDH length 9"):
        enc.split_udh(bytes([9, 0, 3]))


@pytest.mark.parametrize(
    ("data", "dc", "default", "text"),
    [
        (b"\x00bc", 0, "gsm0338", "@bc"),
        (b"caf\xe9", 0, "latin1", "café"),
        (b"caf\xe9", 3, "gsm0338", "café"),
        ("满意".encode("utf-16-be"), 8, "gsm0338", "满意"),
        (b"1", 1, "gsm0338", "1"),
    ],
)
def test_decode_text_by_data_coding(data, dc, default, text):
    """0 → GSM (or the configured default), 1 → ASCII, 3 → Latin-1, 8 → UCS2."""
    assert enc.decode_text(data, dc, default) == text


def test_decode_text_never_raises_on_broken_ucs2():
    """An odd number of UCS2 octets decodes with a replacement character."""
    assert enc.decode_text(b"\x59\x7d\x00", 8).startswith("好")
