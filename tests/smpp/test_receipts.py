"""Receipt parsing, message-id plug-ins and order-free final states."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.smpp import receipts as r

TEXT = (
    "id:0A1B sub:001 dlvrd:001 submit date:2411281200 done date:2411281201 "
    "stat:DELIVRD err:000 text:您好"
)


def test_receipt_text_is_parsed():
    """All the standard fields are read, dates as aware UTC."""
    rec = r.parse_receipt(TEXT)
    assert (rec.message_id, rec.id_source, rec.state, rec.error) == (
        "0A1B",
        "text",
        "DELIVRD",
        "000",
    )
    assert rec.done_date == datetime(2024, 11, 28, 12, 1, tzinfo=UTC)


def test_tlvs_win_over_the_text():
    """receipted_message_id and message_state take precedence."""
    rec = r.parse_receipt(TEXT, b"XYZ\0", 5)
    assert (rec.message_id, rec.id_source, rec.state) == ("XYZ", "tlv", "UNDELIV")


def test_receipt_without_id_is_an_error_naming_it():
    """No id anywhere is a ReceiptError."""
    with pytest.raises(r.ReceiptError, match="message id"):
        r.parse_receipt("stat:DELIVRD")


def test_receipt_without_state_is_an_error_naming_it():
    """No state anywhere is a ReceiptError."""
    with pytest.raises(r.ReceiptError, match="state"):
        r.parse_receipt("id:12")


@pytest.mark.parametrize(
    ("esm", "receipt"), [(0x04, True), (0x44, True), (0, False), (0x40, False), (0x08, False)]
)
def test_receipts_are_told_apart_by_esm_class(esm, receipt):
    """Only message type 0001 (bits 2..5) is an SMSC delivery receipt."""
    assert r.is_receipt(esm) is receipt


def test_as_is_ids_ignore_case_and_leading_zeros():
    """as_is: "000A1b" from the receipt matches "a1B" from the response."""
    f = r.id_format("as_is")
    assert f.receipt_key("000A1b", "text") == f.response_key("a1B")


def test_hex_ids_compare_as_numbers():
    """hex: "00ff" and "FF" are the same message."""
    f = r.id_format("hex")
    assert f.receipt_key("00ff", "text") == f.response_key("FF")


def test_decimal_receipt_ids_match_hex_response_ids():
    """decimal: the receipt's 4096 is the response's 1000 (hex); the TLV stays hex."""
    f = r.id_format("decimal")
    assert f.receipt_key("4096", "text") == f.response_key("1000")
    assert f.receipt_key("1000", "tlv") == f.response_key("1000")


def test_final_state_is_not_overwritten_by_a_late_intermediate_one():
    """ENROUTE after DELIVRD leaves DELIVRD."""
    assert r.part_state_after("DELIVRD", None, "ENROUTE", None) == "DELIVRD"


def test_duplicate_receipt_changes_nothing():
    """DELIVRD twice is DELIVRD."""
    assert r.part_state_after("DELIVRD", None, "DELIVRD", None) == "DELIVRD"


def test_later_done_date_wins_between_two_final_states():
    """Between UNDELIV and DELIVRD, the later done date decides."""
    early, late = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    assert r.part_state_after("UNDELIV", early, "DELIVRD", late) == "DELIVRD"
    assert r.part_state_after("DELIVRD", late, "UNDELIV", early) == "DELIVRD"


def test_message_is_delivered_only_when_every_part_is():
    """Two of three parts delivered is not final; any failed part is undeliverable."""
    assert r.message_status(["DELIVRD", "DELIVRD"], 3) is None
    assert r.message_status(["DELIVRD"] * 3, 3) == "delivered"
    assert r.message_status(["DELIVRD", "EXPIRED"], 3) == "undeliverable"


def test_receipt_dates_are_read_in_the_smscs_zone_whichever_was_seen_first():
    shanghai = ZoneInfo("Asia/Shanghai")
    wall = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # "2603021200" as parsed: the wall time
    for _ in range(2):  # the second is the memoised answer
        assert r.in_zone(wall, shanghai) == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    assert r.in_zone(wall, UTC) == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert r.in_zone(None, shanghai) is None
