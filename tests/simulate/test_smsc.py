"""The SMSC simulator: over real 127.0.0.1 sockets with smpplib's blocking client (a different
SMPP implementation than ours), and over StringTransport for byte-level edge cases."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import pytest_twisted
import smpplib.client
import smpplib.exceptions
from twisted.internet import reactor, threads
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from gateway.simulate.citizens import Reaction, Reply, SeededCitizens
from gateway.simulate.smsc import SmscSettings, SmscSimulator
from gateway.smpp import codec

SURVEY = "【某市公安局】请对民警的服务评价：回复1满意，2基本满意，3不满意。"
CITIZEN = "13812345678"
SUB_NUMBER = "106900001234"


@dataclass
class Scripted:
    """A citizen model that returns one fixed reaction, to test the SMSC and nothing else."""

    reaction: Reaction

    def react(self, destination: str, source_addr: str, text: str, nth: int) -> Reaction:
        return self.reaction


def make_sim(reaction: Reaction | None = None, **kw: object) -> tuple[SmscSimulator, Clock]:
    clock = Clock()
    settings = SmscSettings(accounts={"pingjing": "secret"}, **kw)  # type: ignore[arg-type]
    citizens = Scripted(reaction) if reaction is not None else None
    return SmscSimulator(clock, settings, citizens), clock


@pytest.fixture
def listening():
    ports = []

    def listen(sim: SmscSimulator) -> int:
        port = reactor.listenTCP(0, sim.factory(), interface="127.0.0.1")
        ports.append(port)
        return port.getHost().port

    yield listen
    for port in ports:
        port.stopListening()


def client(port: int) -> smpplib.client.Client:
    c = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    c.connect()
    return c


def in_thread(fn, *args):
    return threads.deferToThread(fn, *args)


def ucs2_submit(c: smpplib.client.Client, text: str = SURVEY, **kw: object):
    return c.send_message(
        source_addr=SUB_NUMBER,
        destination_addr=CITIZEN,
        short_message=text.encode("utf-16-be"),
        data_coding=8,
        registered_delivery=1,
        **kw,
    )


@pytest_twisted.ensureDeferred
async def test_bind_transceiver_with_the_configured_account_succeeds(listening):
    """bind_transceiver with the right system_id and password gets a bind_transceiver_resp OK."""
    sim, _ = make_sim()
    c = client(listening(sim))
    try:
        resp = await in_thread(lambda: c.bind_transceiver(system_id="pingjing", password="secret"))
        assert resp.command == "bind_transceiver_resp" and resp.status == 0
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_bind_with_a_wrong_password_is_refused_with_esme_rinvpaswd(listening):
    """A wrong password gets ESME_RINVPASWD (0x0E), not a silent close."""
    sim, _ = make_sim()
    c = client(listening(sim))
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as err:
            await in_thread(lambda: c.bind_transmitter(system_id="pingjing", password="wrong"))
        assert err.value.args[1] == 0x0E
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_bind_with_an_unknown_system_id_is_refused_with_esme_rinvsysid(listening):
    """An unknown system_id gets ESME_RINVSYSID (0x0F)."""
    sim, _ = make_sim()
    c = client(listening(sim))
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as err:
            await in_thread(lambda: c.bind_transceiver(system_id="nobody", password="secret"))
        assert err.value.args[1] == 0x0F
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_submit_gets_a_message_id_and_the_ucs2_text_is_recorded(listening):
    """submit_sm is answered with a message id, and the decoded text is kept for the summary."""
    sim, _ = make_sim(Reaction(True, 5.0))
    c = client(listening(sim))
    try:
        await in_thread(lambda: c.bind_transceiver(system_id="pingjing", password="secret"))
        resp = await in_thread(lambda: (ucs2_submit(c), c.read_pdu())[1])
        assert resp.command == "submit_sm_resp" and resp.status == 0
        message_id = resp.message_id.decode()
        assert message_id
        [sms] = sim.received
        assert (sms.text, sms.source_addr, sms.destination_addr) == (SURVEY, SUB_NUMBER, CITIZEN)
        assert sms.message_ids == [message_id]
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_delivery_receipt_follows_after_the_simulated_delay(listening):
    """After the citizen model's receipt delay a deliver_sm with esm_class 0x04, stat:DELIVRD and
    the receipted_message_id TLV arrives; before it, nothing."""
    sim, clock = make_sim(Reaction(True, 5.0))
    c = client(listening(sim))
    received = []
    c.set_message_received_handler(lambda pdu: received.append(pdu))
    try:
        await in_thread(lambda: c.bind_transceiver(system_id="pingjing", password="secret"))
        resp = await in_thread(lambda: (ucs2_submit(c), c.read_pdu())[1])
        clock.advance(4.9)
        assert sim.sent == []
        clock.advance(0.2)
        await in_thread(c.read_once)
        [pdu] = received
        assert pdu.esm_class == 0x04
        assert b"stat:DELIVRD" in pdu.short_message
        assert pdu.receipted_message_id == resp.message_id
        assert pdu.source_addr == CITIZEN.encode() and pdu.destination_addr == SUB_NUMBER.encode()
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_unreachable_number_gets_an_undeliv_receipt(listening):
    """When the citizen model says undeliverable the receipt says stat:UNDELIV, state 5."""
    sim, clock = make_sim(Reaction(False, 1.0))
    c = client(listening(sim))
    received = []
    c.set_message_received_handler(lambda pdu: received.append(pdu))
    try:
        await in_thread(lambda: c.bind_transceiver(system_id="pingjing", password="secret"))
        await in_thread(lambda: (ucs2_submit(c), c.read_pdu()))
        clock.advance(1.0)
        await in_thread(c.read_once)
        assert b"stat:UNDELIV" in received[0].short_message
        assert received[0].message_state == 5
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_citizen_reply_comes_as_ucs2_from_the_citizen_to_the_survey_sub_number(listening):
    """A reply is a UCS2 deliver_sm from the citizen's number to the address the survey used."""
    sim, clock = make_sim(Reaction(True, 1.0, Reply("3 接警太慢", "unsatisfied", 60.0)))
    c = client(listening(sim))
    received = []
    c.set_message_received_handler(lambda pdu: received.append(pdu))
    try:
        await in_thread(lambda: c.bind_transceiver(system_id="pingjing", password="secret"))
        await in_thread(lambda: (ucs2_submit(c), c.read_pdu()))
        clock.advance(1.0)
        await in_thread(c.read_once)  # the receipt
        clock.advance(59.0)
        await in_thread(c.read_once)
        reply = received[1]
        assert reply.esm_class == 0 and reply.data_coding == 8
        assert reply.short_message.decode("utf-16-be") == "3 接警太慢"
        assert reply.source_addr == CITIZEN.encode()
        assert reply.destination_addr == SUB_NUMBER.encode()
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_long_reply_comes_as_two_parts_with_a_udh(listening):
    """A reply longer than 70 UCS2 characters is sent as 2 deliver_sm with UDHI and a UDH."""
    text = "不满意，" + "民警态度生硬" * 12
    sim, clock = make_sim(Reaction(True, 1.0, Reply(text, "unsatisfied", 10.0)))
    c = client(listening(sim))
    received = []
    c.set_message_received_handler(lambda pdu: received.append(pdu))
    try:
        await in_thread(lambda: c.bind_transceiver(system_id="pingjing", password="secret"))
        await in_thread(lambda: (ucs2_submit(c), c.read_pdu()))
        clock.advance(10.0)
        for _ in range(3):
            await in_thread(c.read_once)
        parts = [p for p in received if p.esm_class & 0x40]
        assert len(parts) == 2
        udhs = [p.short_message[:6] for p in parts]
        assert [u[4:6] for u in udhs] == [b"\x02\x01", b"\x02\x02"]
        assert "".join(p.short_message[6:].decode("utf-16-be") for p in parts) == text
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_udh_concatenated_submit_is_reassembled_into_one_message(listening):
    """Two submit_sm with a UDH (ref 7, 2 parts) are recorded as one 2-part message."""
    sim, _ = make_sim(Reaction(True, 1.0))
    c = client(listening(sim))
    try:
        await in_thread(lambda: c.bind_transceiver(system_id="pingjing", password="secret"))
        for n, chunk in ((2, "第二部分"), (1, "第一部分，")):
            udh = bytes([5, 0, 3, 7, 2, n])
            await in_thread(
                lambda udh=udh, chunk=chunk: (
                    c.send_message(
                        source_addr=SUB_NUMBER,
                        destination_addr=CITIZEN,
                        short_message=udh + chunk.encode("utf-16-be"),
                        data_coding=8,
                        esm_class=0x40,
                    ),
                    c.read_pdu(),
                )
            )
        [sms] = sim.received
        assert sms.text == "第一部分，第二部分" and sms.parts == 2 and sms.complete
    finally:
        await in_thread(c.disconnect)


@pytest_twisted.ensureDeferred
async def test_receipts_wait_until_a_receiver_binds(listening):
    """A transmitter-only ESME gets no deliver_sm; a receiver that binds later gets the receipt."""
    sim, clock = make_sim(Reaction(True, 1.0))
    port = listening(sim)
    tx, rx = client(port), client(port)
    received = []
    rx.set_message_received_handler(lambda pdu: received.append(pdu))
    try:
        await in_thread(lambda: tx.bind_transmitter(system_id="pingjing", password="secret"))
        await in_thread(lambda: (ucs2_submit(tx), tx.read_pdu()))
        clock.advance(5.0)
        assert sim.stats()["deliveries_pending"] == 1
        await in_thread(lambda: rx.bind_receiver(system_id="pingjing", password="secret"))
        await in_thread(rx.read_once)
        assert received[0].esm_class == 0x04
    finally:
        await in_thread(tx.disconnect)
        await in_thread(rx.disconnect)


# --- byte-level behaviour over StringTransport ---------------------------------------------


def connected(sim: SmscSimulator):
    proto = sim.factory().buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def replies(transport: StringTransport) -> list[codec.Pdu]:
    frames = codec.Framer().feed(transport.value())
    transport.clear()
    return [codec.decode(f) for f in frames]


def bind(proto, transport) -> None:
    proto.dataReceived(codec.encode("bind_transceiver", 1, system_id="pingjing", password="secret"))
    assert replies(transport)[0].status == 0


def test_unknown_command_gets_generic_nack_with_esme_rinvcmdid():
    """A command_id SMPP 3.4 does not define is answered with generic_nack 0x03, same sequence."""
    sim, _ = make_sim()
    proto, transport = connected(sim)
    proto.dataReceived(codec.HEADER.pack(16, 0x00000777, 0, 42))
    [nack] = replies(transport)
    assert (nack.command, nack.status, nack.sequence) == ("generic_nack", 0x03, 42)
    assert transport.connected


def test_submit_before_bind_is_refused_with_esme_rinvbndsts():
    """submit_sm on an unbound connection gets submit_sm_resp ESME_RINVBNDSTS (0x04)."""
    sim, _ = make_sim()
    proto, transport = connected(sim)
    proto.dataReceived(codec.encode("submit_sm", 3, destination_addr=CITIZEN, short_message=b"x"))
    [resp] = replies(transport)
    assert (resp.command, resp.status) == ("submit_sm_resp", 0x04)
    assert sim.received == []


def test_enquire_link_is_answered():
    """enquire_link gets enquire_link_resp with the same sequence number."""
    sim, _ = make_sim()
    proto, transport = connected(sim)
    bind(proto, transport)
    proto.dataReceived(codec.encode_header_only(0x15, 9))
    [resp] = replies(transport)
    assert (resp.command, resp.sequence) == ("enquire_link_resp", 9)


def test_unbind_is_answered_and_the_connection_closed():
    """unbind gets unbind_resp, then the SMSC closes the connection."""
    sim, _ = make_sim()
    proto, transport = connected(sim)
    bind(proto, transport)
    proto.dataReceived(codec.encode_header_only(0x06, 4))
    [resp] = replies(transport)
    assert resp.command == "unbind_resp"
    assert transport.disconnecting


def test_sar_concatenated_submit_is_reassembled():
    """Parts carried with sar_* TLVs (no UDH) are reassembled by reference."""
    sim, _ = make_sim(Reaction(True, 1.0))
    proto, transport = connected(sim)
    bind(proto, transport)
    for n, chunk in ((1, b"Hello "), (2, b"world")):
        body = codec.encode(
            "submit_sm",
            10 + n,
            destination_addr=CITIZEN,
            source_addr=SUB_NUMBER,
            short_message=chunk,
        )
        tlvs = (
            codec.tlv(codec.TAG_SAR_MSG_REF_NUM, b"\x01\x02")
            + codec.tlv(codec.TAG_SAR_TOTAL_SEGMENTS, b"\x02")
            + codec.tlv(codec.TAG_SAR_SEGMENT_SEQNUM, bytes([n]))
        )
        frame = (len(body) + len(tlvs)).to_bytes(4, "big") + body[4:] + tlvs
        proto.dataReceived(frame)
    assert [r.status for r in replies(transport)] == [0, 0]
    [sms] = sim.received
    assert sms.text == "Hello world" and sms.parts == 2


def test_incomplete_concatenation_is_recorded_after_the_reassembly_timeout():
    """A part whose siblings never come is recorded as incomplete after reassembly_timeout."""
    sim, clock = make_sim(Reaction(True, 1.0), reassembly_timeout=60.0)
    proto, transport = connected(sim)
    bind(proto, transport)
    proto.dataReceived(
        codec.encode(
            "submit_sm",
            5,
            destination_addr=CITIZEN,
            esm_class=0x40,
            short_message=bytes([5, 0, 3, 1, 3, 1]) + b"abc",
        )
    )
    assert sim.received == []
    clock.advance(60.0)
    [sms] = sim.received
    assert (sms.text, sms.complete) == ("abc", False)


def test_rejected_deliver_sm_is_retried_after_the_retry_delay():
    """A deliver_sm answered with an error status is sent again after deliver_retry_delay."""
    sim, clock = make_sim(Reaction(True, 1.0), deliver_retry_delay=10.0)
    proto, transport = connected(sim)
    bind(proto, transport)
    proto.dataReceived(
        codec.encode(
            "submit_sm", 2, destination_addr=CITIZEN, short_message=b"x", registered_delivery=1
        )
    )
    replies(transport)
    clock.advance(1.0)
    [first] = replies(transport)
    proto.dataReceived(codec.encode("deliver_sm_resp", first.sequence, status=0x64))
    clock.advance(9.9)
    assert replies(transport) == []
    clock.advance(0.1)
    [again] = replies(transport)
    assert again.command == "deliver_sm" and again.sequence != first.sequence
    assert again.tlvs[codec.TAG_RECEIPTED_MESSAGE_ID] == first.tlvs[codec.TAG_RECEIPTED_MESSAGE_ID]


def test_hex_resp_decimal_receipt_quirk_uses_both_forms_of_one_id():
    """With message_id_style hex_resp_decimal_receipt the response id is hex and the receipt
    carries the same number in decimal, as some carriers do."""
    sim, clock = make_sim(Reaction(True, 1.0), message_id_style="hex_resp_decimal_receipt")
    proto, transport = connected(sim)
    bind(proto, transport)
    proto.dataReceived(
        codec.encode(
            "submit_sm", 2, destination_addr=CITIZEN, short_message=b"x", registered_delivery=1
        )
    )
    [resp] = replies(transport)
    clock.advance(1.0)
    [receipt] = replies(transport)
    receipted = receipt.tlvs[codec.TAG_RECEIPTED_MESSAGE_ID].rstrip(b"\0").decode()
    assert int(resp.text_field("message_id"), 16) == int(receipted)


def test_no_receipt_when_registered_delivery_is_zero():
    """registered_delivery 0 means the ESME asked for no receipt: none is sent."""
    sim, clock = make_sim(Reaction(True, 1.0))
    proto, transport = connected(sim)
    bind(proto, transport)
    proto.dataReceived(codec.encode("submit_sm", 2, destination_addr=CITIZEN, short_message=b"x"))
    replies(transport)
    clock.advance(100.0)
    assert replies(transport) == []


# --- the default citizens -----------------------------------------------------------------


def test_seeded_citizens_are_deterministic_per_seed_number_and_count():
    """The same seed, number and message count always give the same reaction."""
    a = SeededCitizens(seed=5).react(CITIZEN, SUB_NUMBER, SURVEY, 0)
    b = SeededCitizens(seed=5).react(CITIZEN, SUB_NUMBER, SURVEY, 0)
    assert a == b


def test_seeded_citizens_reply_to_about_a_quarter_mostly_satisfied():
    """Over 2,000 surveys about 25% reply and satisfied is the largest group of replies."""
    model = SeededCitizens(seed=11)
    reactions = [model.react(f"139{i:08d}", SUB_NUMBER, SURVEY, 0) for i in range(2000)]
    replies_ = [r.reply for r in reactions if r.reply is not None]
    assert 0.20 < len(replies_) / 2000 < 0.30
    intents = [r.intent for r in replies_]
    assert max(set(intents), key=intents.count) == "satisfied"
    assert {"unsatisfied", "opt_out", "unknown", "basically_satisfied"} <= set(intents)


def test_seeded_citizens_do_not_reply_to_messages_that_are_not_surveys():
    """A confirmation text (no 满意 in it) is delivered but never answered."""
    model = SeededCitizens(seed=3, reply_rate=1.0, undeliverable_rate=0.0)
    assert model.react(CITIZEN, SUB_NUMBER, "您已成功退订。", 0).reply is None


def test_seeded_citizens_refuse_unknown_intents():
    """A weight for an intent that does not exist is a configuration error naming it."""
    with pytest.raises(ValueError, match="bogus"):
        SeededCitizens(weights={"bogus": 1.0})


@pytest_twisted.ensureDeferred
async def test_pingjing_smpp_service_gets_a_receipt_and_a_two_part_reply(listening):
    """pingjing's own SMPP service, bound to the simulator over TCP, submits a survey, sees its
    delivery receipt matched, and receives a long reply reassembled from two UDH parts."""
    from twisted.internet import defer

    from gateway.smpp.api import OutboundSms
    from gateway.smpp.service import SmppService
    from gateway.smpp.settings import SmppSettings
    from gateway.smpp.store import MemorySmsStore

    text = "不满意，" + "民警态度生硬" * 12
    sim, clock = make_sim(Reaction(True, 3.0, Reply(text, "unsatisfied", 30.0)))
    settings = SmppSettings(
        port=listening(sim), system_id="pingjing", password="secret", source_addr="10690"
    )
    service = SmppService(settings, MemorySmsStore())
    got_receipt: defer.Deferred = defer.Deferred()
    got_reply: defer.Deferred = defer.Deferred()
    service.add_receipt_observer(lambda r: got_receipt.called or got_receipt.callback(r))
    service.add_reply_observer(lambda r: got_reply.called or got_reply.callback(r))
    service.startService()
    try:
        await service.whenBound().addTimeout(10, reactor)
        outcome = await service.submit(OutboundSms(1, CITIZEN, SURVEY, source_addr=SUB_NUMBER))
        assert outcome.status == "submitted", outcome
        clock.advance(3.0)
        receipt = await got_receipt.addTimeout(10, reactor)
        assert (receipt.outbound_id, receipt.state) == (1, "DELIVRD")
        clock.advance(27.0)
        reply = await got_reply.addTimeout(10, reactor)
        assert (reply.text, reply.incomplete) == (text, False)
        assert (reply.source_addr, reply.destination_addr) == (CITIZEN, SUB_NUMBER)
    finally:
        await service.stopService()


def test_same_seed_gives_the_same_replies_whatever_the_order_of_submits():
    """Two simulators with one seed, fed the same surveys in opposite orders, decide the same
    reaction for every number: the story does not depend on traffic order."""
    numbers = [f"135{i:08d}" for i in range(60)]

    def run(order: list[str]) -> dict[str, object]:
        clock = Clock()
        sim = SmscSimulator(clock, SmscSettings(accounts={"pingjing": "secret"}, seed=42))
        proto, transport = connected(sim)
        bind(proto, transport)
        for seq, number in enumerate(order, start=2):
            proto.dataReceived(
                codec.encode(
                    "submit_sm",
                    seq,
                    source_addr=SUB_NUMBER,
                    destination_addr=number,
                    data_coding=8,
                    short_message=SURVEY.encode("utf-16-be"),
                )
            )
        return {m.destination_addr: m.reaction for m in sim.received}

    assert run(numbers) == run(list(reversed(numbers)))


def test_gsm_coded_submit_is_decoded_with_the_gsm_alphabet():
    """data_coding 0 is read as GSM 03.38: 0x00 is '@', not NUL."""
    sim, _ = make_sim(Reaction(True, 1.0))
    proto, transport = connected(sim)
    bind(proto, transport)
    proto.dataReceived(
        codec.encode("submit_sm", 2, destination_addr=CITIZEN, short_message=b"a\x00b\x02")
    )
    assert sim.received[0].text == "a@b$"


def test_submits_over_the_rate_cap_get_esme_rthrottled():
    """With max_submits_per_second 2 the third submit in one second gets ESME_RTHROTTLED
    (0x58) and is not recorded; the next second accepts again."""
    sim, clock = make_sim(Reaction(True, 1.0), max_submits_per_second=2)
    proto, transport = connected(sim)
    bind(proto, transport)

    def submit(seq: int) -> int:
        proto.dataReceived(
            codec.encode("submit_sm", seq, destination_addr=CITIZEN, short_message=b"x")
        )
        return replies(transport)[0].status

    assert [submit(2), submit(3), submit(4)] == [0, 0, 0x58]
    clock.advance(1.0)
    assert submit(5) == 0
    assert len(sim.received) == 3


@pytest_twisted.ensureDeferred
async def test_a_campaign_reconciles_between_the_simulator_and_pingjings_smpp_service(listening):
    """200 surveys through pingjing's SMPP service with the default citizens: every receipt and
    every reply the simulator reports is received by the service, no more, no fewer."""
    from twisted.internet import defer

    from gateway.smpp.api import OutboundSms
    from gateway.smpp.service import SmppService
    from gateway.smpp.settings import SmppSettings
    from gateway.smpp.store import MemorySmsStore

    clock = Clock()
    sim = SmscSimulator(clock, SmscSettings(accounts={"pingjing": "secret"}, seed=2017))
    settings = SmppSettings(
        port=listening(sim), system_id="pingjing", password="secret", source_addr="10690"
    )
    service = SmppService(settings, MemorySmsStore())
    receipts, replies = [], []
    all_in: defer.Deferred = defer.Deferred()
    expected: dict[str, int] = {}

    def check() -> None:
        if (
            expected
            and len(receipts) == expected["receipts"]
            and len(replies) == expected["replies"]
        ):
            all_in.called or all_in.callback(None)

    service.add_receipt_observer(lambda r: (receipts.append(r), check()))
    service.add_reply_observer(lambda r: (replies.append(r), check()))
    service.startService()
    try:
        await service.whenBound().addTimeout(10, reactor)
        outcomes = await defer.gatherResults(
            [
                service.submit(OutboundSms(i, f"139{i:08d}", SURVEY, source_addr=f"10690{i:04d}"))
                for i in range(1, 201)
            ]
        )
        assert {o.status for o in outcomes} == {"submitted"}
        clock.advance(4000.0)  # past every receipt and reply delay
        stats = sim.stats()
        expected.update(
            receipts=sum(1 for s in sim.sent if s.kind == "receipt"),
            replies=sum(1 for s in sim.sent if s.kind == "reply" and s.part[0] == 1),
        )
        check()
        await all_in.addTimeout(20, reactor)
        assert 30 <= len(replies) <= 70
        assert stats["undeliverable"] == sum(1 for r in receipts if r.state == "UNDELIV")
        for reply in replies:  # each reply goes back to the sub-number of its own survey
            n = int(reply.source_addr[3:])
            assert reply.destination_addr == f"10690{n:04d}"
    finally:
        await service.stopService()
