"""Byte vectors for what the SMPP fuzz run (benchmarks/fuzz_smpp.py) found: each bad input is
answered the way SMPP 3.4 says, with a reason naming the field or tag and its offset, and
nothing after it is lost or acted on twice."""

from __future__ import annotations

import pytest
from twisted.logger import globalLogPublisher

from gateway.smpp import codec
from gateway.smpp.reassembly import concat_problem
from gateway.smpp.session import LinkLost, State
from gateway.smpp.settings import SmppSettings
from tests.smpp.test_service import make
from tests.smpp.test_session import SETTINGS, bound_session, new_session

H = codec.HEADER


def frame(command_id: int, seq: int, body: bytes) -> bytes:
    return H.pack(16 + len(body), command_id, 0, seq) + body


# deliver_sm body: service_type "", 0/0 "138", 0/0 "10690", esm 0, pid 0, prio 0, "", "",
# regdel 0, replace 0, dc 0, default 0, sm_length 2, "ok"
DELIVER_BODY = b"\0" + b"\0\0138\0" + b"\0\x0010690\0" + b"\0\0\0" + b"\0\0" + b"\0\0\0\0\x02ok"


def test_a_known_tlv_of_the_wrong_length_is_refused_naming_tag_and_offset():
    """sar_total_segments is one octet; two octets are ESME_RINVPARLEN at the TLV's offset."""
    data = frame(5, 7, DELIVER_BODY + codec.tlv(0x020E, b"\x00\x03"))
    with pytest.raises(codec.DecodeError) as err:
        codec.decode(data)
    assert err.value.status == codec.ESME_RINVPARLEN
    assert err.value.offset == 16 + len(DELIVER_BODY)
    assert "0x020E" in str(err.value) and f"offset {err.value.offset}" in str(err.value)
    assert not err.value.header_fault


def test_a_repeated_known_tlv_is_refused():
    """Two message_state TLVs: which one is true is unknowable, ESME_RINVOPTPARSTREAM."""
    data = frame(5, 7, DELIVER_BODY + codec.tlv(0x0427, b"\x02") + codec.tlv(0x0427, b"\x05"))
    with pytest.raises(codec.DecodeError, match=r"0x0427.*repeated") as err:
        codec.decode(data)
    assert err.value.status == codec.ESME_RINVOPTPARSTREAM


def test_a_tlv_running_past_the_end_is_an_optional_part_error():
    data = frame(5, 7, DELIVER_BODY + b"\x04\x27\x00\x09\x01")
    with pytest.raises(codec.DecodeError, match="0x0427") as err:
        codec.decode(data)
    assert err.value.status == codec.ESME_RINVOPTPARSTREAM


def test_sm_length_255_is_over_the_254_octet_maximum():
    body = DELIVER_BODY[:-3] + b"\xff" + bytes(255)
    with pytest.raises(codec.DecodeError, match=r"short_message.*at most 254") as err:
        codec.decode(frame(5, 7, body))
    assert err.value.status == codec.ESME_RINVMSGLEN


def test_an_overlong_source_addr_is_invalid_source_address_at_its_offset():
    body = b"\0" + b"\0\0" + b"1" * 21 + b"\0" + DELIVER_BODY[7:]
    with pytest.raises(codec.DecodeError, match="source_addr") as err:
        codec.decode(frame(5, 7, body))
    assert (err.value.status, err.value.offset) == (codec.ESME_RINVSRCADR, 19)


def test_a_body_cut_short_is_a_header_fault():
    """A body that does not hold the mandatory fields: the command_length cannot be right."""
    with pytest.raises(codec.DecodeError, match="destination_addr") as err:
        codec.decode(frame(5, 7, DELIVER_BODY[:10]))
    assert err.value.header_fault and err.value.status == codec.ESME_RINVCMDLEN


def test_the_answer_statuses_are_the_smpp_3_4_codes():
    from gateway.errors import status_name

    for name in ("RINVMSGLEN", "RINVCMDLEN", "RINVCMDID", "RINVSRCADR", "RINVDSTADR",
                 "RINVOPTPARSTREAM", "RINVPARLEN"):  # fmt: skip
        assert status_name(getattr(codec, f"ESME_{name}")) == f"ESME_{name}"


def test_concatenations_that_cannot_place_their_part():
    assert concat_problem(0, 1) == "total of 0 parts"
    assert concat_problem(3, 0) == "part 0 of 3"
    assert concat_problem(3, 5) == "part 5 of 3"
    assert concat_problem(3, 3) is None and concat_problem(1, 1) is None


# --- the session's answers ----------------------------------------------------------------


@pytest.fixture
def warnings():
    lines: list[str] = []

    def observe(event: dict) -> None:
        if event.get("log_namespace", "").startswith("pingjing.smpp"):
            from twisted.logger import formatEvent

            lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


def test_a_bad_value_in_deliver_sm_gets_deliver_sm_resp_with_the_status(warnings):
    """Not generic_nack (kept for header faults): deliver_sm_resp ESME_RINVPARLEN, logged."""
    seen = []
    s, wire, _ = bound_session(on_deliver=lambda pdu: seen.append(pdu) or 0)
    s.data_received(frame(5, 7, DELIVER_BODY + codec.tlv(0x020E, b"")))
    assert [(p.command, p.sequence, p.status) for p in wire.sent] == [
        ("deliver_sm_resp", 7, codec.ESME_RINVPARLEN)
    ]
    assert seen == []
    assert any("0x020E" in line and "offset 41" in line for line in warnings)


def test_a_truncated_deliver_sm_gets_generic_nack_invalid_command_length(warnings):
    s, wire, _ = bound_session(on_deliver=lambda pdu: 0)
    s.data_received(frame(5, 7, DELIVER_BODY[:10]))
    assert [(p.command, p.sequence, p.status) for p in wire.sent] == [
        ("generic_nack", 7, codec.ESME_RINVCMDLEN)
    ]
    assert any("destination_addr" in line and "offset" in line for line in warnings)


def test_nothing_after_the_smscs_unbind_in_the_same_read_is_acted_on():
    """unbind then deliver_sm in one read: the link is going, so the deliver_sm is neither
    stored nor answered (the SMSC delivers it again on the next bind, once)."""
    seen = []
    s, wire, _ = bound_session(on_deliver=lambda pdu: seen.append(pdu) or 0)
    s.data_received(H.pack(16, 6, 0, 8) + frame(5, 9, DELIVER_BODY))
    assert [p.command for p in wire.sent] == ["unbind_resp"]
    assert seen == [] and wire.dropped == ["the SMSC unbound"]


def test_an_unreadable_bind_resp_drops_the_link_instead_of_hanging():
    s, wire, _ = new_session()
    s.connection_made()
    failures = []
    s.when_bound().addErrback(failures.append)
    bind_seq = wire.sent[0].sequence
    s.data_received(frame(0x80000009, bind_seq, b"smsc"))  # system_id without its NUL
    assert len(wire.dropped) == 1 and "unreadable bind_transceiver_resp" in wire.dropped[0]
    s.connection_lost(wire.dropped[0])
    assert failures and failures[0].check(LinkLost)


def test_an_unreadable_enquire_link_resp_keeps_the_keep_alive_going():
    s, wire, clock = bound_session()
    clock.advance(SETTINGS.enquire_link_interval)
    enquire = wire.sent[-1]
    assert enquire.command == "enquire_link"
    s.data_received(frame(0x80000015, enquire.sequence, b"\x00"))  # a stray octet
    clock.advance(SETTINGS.enquire_link_interval)
    assert [p.command for p in wire.sent].count("enquire_link") == 2
    assert s.state is State.BOUND and wire.dropped == []


def test_an_unreadable_submit_sm_resp_fails_its_request_and_frees_the_window(warnings):
    s, wire, _ = bound_session()
    d = s.send_request("submit_sm", destination_addr="138", short_message=b"x")
    seq = wire.sent[-1].sequence
    failures = []
    d.addErrback(failures.append)
    s.data_received(frame(0x80000004, seq, b"x" * 70 + b"\0"))  # message_id over 64 octets
    assert failures and "message_id" in str(failures[0].value)
    assert s.in_flight == 0
    assert any("offset 16" in line for line in warnings)


def test_the_framer_limit_is_the_configured_max_pdu_length():
    settings = SmppSettings(**{**SETTINGS.__dict__, "max_pdu_length": 1024})
    s, wire, _ = bound_session(settings=settings)
    s.data_received(H.pack(1025, 5, 0, 1))
    assert len(wire.dropped) == 1
    assert "command_length 1025 outside 16..1024 at stream offset +0" in wire.dropped[0]


def test_max_pdu_length_is_validated():
    from gateway.smpp.settings import SettingsError

    with pytest.raises(SettingsError, match=r"smpp\.max_pdu_length"):
        SmppSettings(system_id="x", max_pdu_length=10).validate()


# --- the service keeps what it cannot place ---------------------------------------------


@pytest.mark.parametrize(
    "udh",
    [bytes([5, 0, 3, 9, 3, 5]), bytes([5, 0, 3, 9, 0, 1]), bytes([5, 0, 3, 9, 2, 0])],
    ids=["part 5 of 3", "total 0", "part 0"],
)
def test_a_reply_whose_udh_cannot_place_it_is_stored_as_one(udh):
    service, smsc, store, _clock = make()
    replies = []
    service.add_reply_observer(replies.append)
    text = "满意".encode("utf-16-be")
    smsc.deliver(codec.encode("deliver_sm", 80, source_addr="13812345678", esm_class=0x40,
                              data_coding=8, short_message=udh + text))  # fmt: skip
    assert [r.text for r in replies] == ["满意"]
    assert smsc.deliver_resps[-1].status == 0 and store.held == {}


def test_a_reply_with_inconsistent_sar_tlvs_is_stored_as_one():
    service, smsc, store, _clock = make()
    replies = []
    service.add_reply_observer(replies.append)
    body = b"\0\0\x0013812345678\0\0\x0010690\0\0\0\0\0\0\0\0\0\0\x012"
    sar = codec.tlv(0x020C, b"\x00\x07") + codec.tlv(0x020E, b"\x02") + codec.tlv(0x020F, b"\x04")
    smsc.deliver(frame(5, 81, body + sar))  # part 4 of 2
    assert [r.text for r in replies] == ["2"]
    assert store.held == {}
