"""The service's reply intake: redeliveries answered and stored once, proofs recorded, long
replies whose parts two processes took assembled once (two services on one PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest_twisted
import sqlalchemy as sa
from twisted.internet import reactor
from twisted.internet.task import Clock

from gateway.smpp import codec
from gateway.smpp.assembly import part_from_pdu
from gateway.smpp.service import SmppService
from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import MemorySmsStore
from storage.db import Database
from storage.models import Base, InboundMessage
from storage.sms_store import SqlSmsStore
from tests.smpp.test_service import BASE, make, run

PHONE = "13812345678"


def reply(seq: int, text: bytes = b"3") -> bytes:
    return codec.encode("deliver_sm", seq, source_addr=PHONE, destination_addr="10690",
                        short_message=text)  # fmt: skip


def part(seq: int, n: int, text: str) -> bytes:
    data = bytes([5, 0, 3, 4, 2, n]) + text.encode("utf-16-be")
    return codec.encode("deliver_sm", seq, source_addr=PHONE, destination_addr="10690",
                        esm_class=0x40, data_coding=8, short_message=data)  # fmt: skip


def reconnect(smsc, clock) -> None:
    smsc.drop()
    run(clock, 4, step=0.05)  # reconnect_initial = 1 s plus jitter, then the bind


def test_a_redelivery_after_the_link_dropped_is_answered_and_stored_once():
    """The link drops before any proof of our resp; the SMSC sends the reply again on the
    next bind: ESME_ROK, no second row, no second notification."""
    service, smsc, store, clock = make()
    replies = []
    service.add_reply_observer(replies.append)
    smsc.deliver(reply(50))
    reconnect(smsc, clock)
    smsc.deliver(reply(51))
    assert [p.status for p in smsc.deliver_resps] == [0, 0]
    assert len(store.inbound) == 1 and [r.text for r in replies] == ["3"]
    assert service.replies.redeliveries == 1


def test_the_same_text_twice_on_a_bound_link_is_two_replies():
    _service, smsc, store, _ = make()
    smsc.deliver(reply(50))
    smsc.deliver(reply(51))
    assert len(store.inbound) == 2


def test_a_proven_resp_is_recorded_and_the_same_text_later_is_a_new_reply():
    """The enquire_link answered after our resp proves it; after a reconnect the same text is
    the citizen's again, not a redelivery."""
    service, smsc, store, clock = make()
    smsc.deliver(reply(50))
    run(clock, BASE.enquire_link_interval + 0.1, step=0.05)
    assert [d.acked_at is not None for _, _, d in store.deliveries.values()] == [True]
    reconnect(smsc, clock)
    smsc.deliver(reply(51))
    assert len(store.inbound) == 2 and service.replies.redeliveries == 0


def test_a_redelivered_part_does_not_split_the_reply():
    service, smsc, store, clock = make()
    replies = []
    service.add_reply_observer(replies.append)
    smsc.deliver(part(60, 1, "我不"))
    reconnect(smsc, clock)
    smsc.deliver(part(61, 1, "我不"))
    smsc.deliver(part(62, 2, "满意"))
    assert [(r.text, r.incomplete) for r in replies] == [("我不满意", False)]
    assert store.held == {}


def test_parts_held_before_a_restart_are_assembled_at_start():
    """Both parts were held when the process stopped: the new run assembles them."""
    store = MemorySmsStore()
    at = datetime.fromtimestamp(0, UTC)
    for seq, n, text in ((1, 1, "我不"), (2, 2, "满意")):
        store.held[seq] = part_from_pdu(codec.decode(part(seq, n, text)), at, seq)
    clock = Clock()
    service = SmppService(BASE, store, clock=clock, endpoint_factory=lambda: None)
    replies = []
    service.add_reply_observer(replies.append)
    service.replies.restore(list(store.held.values()))
    assert [r.text for r in replies] == ["我不满意"] and store.held == {}


@pytest_twisted.inlineCallbacks
def test_two_services_on_one_database_store_a_split_reply_once(pg_url):
    """gw-a takes part 1, gw-b part 2: gw-b assembles; gw-a's expiry later does nothing."""
    settings = SmppSettings(**{**BASE.__dict__, "reassembly_timeout": 60})
    dbs = [Database(pg_url, reactor=reactor, threads=2) for _ in range(2)]
    Base.metadata.create_all(dbs[0].engine)
    clocks = [Clock(), Clock()]
    services, seen, assembling = [], [[], []], []
    for i, name in enumerate(("gw-a", "gw-b")):
        store = SqlSmsStore(dbs[i])
        assemble = store.assemble_held
        store.assemble_held = lambda *a, f=assemble: assembling.append(f(*a)) or assembling[-1]
        service = SmppService(settings, store, clock=clocks[i], instance=name,
                              endpoint_factory=lambda: None)  # fmt: skip
        service.add_reply_observer(seen[i].append)
        services.append(service)
    try:
        yield services[0].replies.received(codec.decode(part(1, 1, "我不")), "gw-a/x/trx#1")
        yield services[1].replies.received(codec.decode(part(2, 2, "满意")), "gw-b/y/trx#1")
        assert seen == [[], [seen[1][0]]] and seen[1][0].text == "我不满意"
        clocks[0].advance(61)
        assert len(assembling) == 1
        yield assembling[0]
        assert seen[0] == []
        with dbs[0].sessions() as s:
            stored = s.execute(sa.select(InboundMessage.match_status, InboundMessage.text)).all()
        assert [tuple(r) for r in stored] == [("new", "我不满意")]
    finally:
        for db in dbs:
            db.stop()


def test_a_quick_copy_at_another_process_is_decided_when_the_grace_ends():
    """gw-a (dead, say) took "3" and never proved it; gw-b gets the SMSC's redelivery 1 s
    later: kept aside, not notified, and found a redelivery when the grace ends."""
    clock, store = Clock(), MemorySmsStore()
    a = SmppService(BASE, store, clock=clock, instance="gw-a", endpoint_factory=lambda: None)
    b = SmppService(BASE, store, clock=clock, instance="gw-b", endpoint_factory=lambda: None)
    seen = []
    b.add_reply_observer(seen.append)
    a.replies.received(codec.decode(reply(1)), "gw-a/x/trx#1")
    clock.advance(1)
    b.replies.received(codec.decode(reply(2)), "gw-b/y/trx#1")
    assert seen == [] and len(store.unsure) == 1
    clock.advance(2 * BASE.enquire_link_interval)
    assert seen == [] and store.unsure == {} and len(store.inbound) == 1
    assert b.replies.redeliveries == 1
