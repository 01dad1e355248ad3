"""Replies stored once and long replies assembled across processes, in SQL (SQLite and
PostgreSQL) and in the memory store: the store half of issue 17's two reply findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer, reactor

from gateway.smpp import codec
from gateway.smpp.assembly import part_from_pdu
from gateway.smpp.redelivery import Arrival, fingerprint, link_name
from gateway.smpp.store import MemorySmsStore
from storage.db import Database
from storage.models import Base, InboundDelivery, InboundMessage
from storage.sms_store import SqlSmsStore

T0 = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
PHONE = "13812345678"
A1 = link_name("gw-a", "boot1", "trx", 1)
A2 = link_name("gw-a", "boot1", "trx", 2)
A_NEXT_RUN = link_name("gw-a", "boot2", "trx", 1)
B1 = link_name("gw-b", "boot9", "trx", 1)


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def stores(request, tmp_path):
    """A function making stores on one database: each is another process's store."""
    if request.param == "memory":
        store = MemorySmsStore()
        yield lambda: store
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'replies.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    databases: list[Database] = []

    def make() -> SqlSmsStore:
        db = Database(url, reactor=reactor, threads=2)
        if not databases:
            Base.metadata.create_all(db.engine)
        databases.append(db)
        return SqlSmsStore(db)

    make.databases = databases
    yield make
    for db in databases:
        db.stop()


def deliver(seq: int, text: str = "3", udh: bytes = b"") -> codec.Pdu:
    data = udh + text.encode("utf-16-be")
    raw = codec.encode("deliver_sm", seq, source_addr=PHONE, destination_addr="10690",
                       esm_class=0x40 if udh else 0, data_coding=8, short_message=data)  # fmt: skip
    return codec.decode(raw)


def part(seq: int, n: int, text: str, total: int = 2, ref: int = 9) -> codec.Pdu:
    return deliver(seq, text, bytes([5, 0, 3, ref, total, n]))


def take(store, pdu: codec.Pdu, link: str, live=(), after: float = 0.0, grace: float = 60.0):
    at = T0 + timedelta(seconds=after)
    arrival = Arrival(PHONE, fingerprint(pdu), link, frozenset(live), at, 3600.0, grace)
    return store.take_reply(part_from_pdu(pdu, at), arrival, "gsm0338")


def rows(stores) -> list[tuple[str, str]]:
    """(match_status, text) of every inbound row, in id order."""
    if not hasattr(stores, "databases"):
        store = stores()
        held = [("held", p.data.decode("utf-16-be")) for p in store.held.values()]
        unsure = [("unsure", r.text) for r in store.unsure.values()]
        return [("new", r.text) for r in store.inbound.values()] + held + unsure
    with stores.databases[0].sessions() as s:
        return [
            (r.match_status, r.text)
            for r in s.scalars(sa.select(InboundMessage).order_by(InboundMessage.id))
        ]


@pytest_twisted.inlineCallbacks
def test_a_redelivery_after_the_link_went_is_answered_not_stored(stores):
    """Our resp was lost with link A1; the SMSC delivers again on A2: one row, its id named."""
    store = stores()
    first = yield take(store, deliver(1), A1, live=[A1])
    again = yield take(store, deliver(7), A2, live=[A2], after=5)
    assert first.reply is not None and again.reply is None
    assert again.redelivery_of == first.reply.inbound_id
    assert again.delivery_id == first.delivery_id  # proving this resp proves the first copy
    assert rows(stores) == [("new", "3")]


@pytest_twisted.inlineCallbacks
def test_the_same_text_twice_on_a_live_link_is_two_replies(stores):
    """A citizen who sends "3" twice gets two rows (the survey marks the second duplicate)."""
    store = stores()
    yield take(store, deliver(1), A1, live=[A1])
    second = yield take(store, deliver(2), A1, live=[A1], after=5)
    assert second.reply is not None and second.redelivery_of is None
    assert rows(stores) == [("new", "3"), ("new", "3")]


@pytest_twisted.inlineCallbacks
def test_replies_taken_in_one_batch_are_judged_as_one_by_one(stores):
    """A batch takes its plain replies together (one read, two inserts): a redelivery in it
    is still answered, not stored, and the same text twice in it is still two replies."""
    store = stores()
    first = yield take(store, deliver(1, "3"), A1, live=[A1])
    batch = [  # asked together: one batch (the new "9" and "7" are taken together)
        take(store, deliver(2, "9"), A2, live=[A2], after=1),
        take(store, deliver(3, "3"), A2, live=[A2], after=5),  # A1 went: a redelivery
        take(store, deliver(4, "5"), A2, live=[A2], after=5),
        take(store, deliver(5, "5"), A2, live=[A2], after=6),  # the citizen again
        take(store, deliver(6, "7"), A2, live=[A2], after=6),
    ]
    _, again, five, five_again, seven = yield defer.gatherResults(batch)
    assert again.reply is None and again.redelivery_of == first.reply.inbound_id
    assert again.delivery_id == first.delivery_id
    assert five.reply is not None and five_again.reply is not None
    assert five.reply.inbound_id != five_again.reply.inbound_id
    assert seven.reply is not None and seven.reply.text == "7"
    assert len({five.delivery_id, five_again.delivery_id, seven.delivery_id}) == 3
    assert sorted(rows(stores)) == sorted([("new", t) for t in ("3", "9", "5", "5", "7")])
    if hasattr(stores, "databases"):
        with stores.databases[0].sessions() as s:
            by_id = {d.id: d.inbound_id for d in s.scalars(sa.select(InboundDelivery))}
        assert by_id[seven.delivery_id] == seven.reply.inbound_id
        assert by_id[five.delivery_id] == five.reply.inbound_id


@pytest_twisted.inlineCallbacks
def test_a_proven_resp_makes_a_later_same_text_a_new_reply(stores):
    """The SMSC read our resp: it will not resend, so the same text later is the citizen's."""
    store = stores()
    first = yield take(store, deliver(1), A1, live=[A1])
    yield store.mark_acked([first.delivery_id], T0 + timedelta(seconds=1))
    second = yield take(store, deliver(2), A2, live=[A2], after=5)
    assert second.reply is not None
    assert len(rows(stores)) == 2


@pytest_twisted.inlineCallbacks
def test_a_restarted_instance_sees_its_earlier_run_s_copy_as_redelivered(stores):
    """kill -9 and restart of gw-a: the redelivery one second later is still caught."""
    first = yield take(stores(), deliver(1), A1, live=[A1])
    again = yield take(stores(), deliver(2), A_NEXT_RUN, live=[A_NEXT_RUN], after=1)
    assert again.redelivery_of == first.reply.inbound_id
    assert len(rows(stores)) == 1


@pytest_twisted.inlineCallbacks
def test_another_process_copy_counts_once_its_grace_has_passed(stores):
    """gw-b gets the text 90 s after gw-a took it and never proved its resp: a redelivery."""
    yield take(stores(), deliver(1), A1, live=[A1])
    late = yield take(stores(), deliver(3), B1, live=[B1], after=90)
    assert late.reply is None and late.redelivery_of is not None
    assert len(rows(stores)) == 1


@pytest_twisted.inlineCallbacks
def test_a_quick_copy_at_another_process_is_kept_aside_then_found_redelivered(stores):
    """gw-b gets it 1 s after gw-a took it: gw-a may be dead (the SMSC moved its unanswered
    reply to gw-b) or alive and not yet proven. Kept aside until the grace has passed; gw-a
    never proved its resp, so it was a redelivery: one row, the first."""
    first = yield take(stores(), deliver(1), A1, live=[A1])
    b = stores()
    quick = yield take(b, deliver(2), B1, live=[B1], after=1)
    assert quick.reply is None and quick.unsure_id is not None
    assert quick.settle_at == T0 + timedelta(seconds=60)
    assert rows(stores) == [("new", "3"), ("unsure", "3")]
    settled = yield b.settle_unsure(quick.unsure_id)
    assert settled.reply is None and settled.redelivery_of == first.reply.inbound_id
    assert rows(stores) == [("new", "3")]
    again = yield b.settle_unsure(quick.unsure_id)
    assert again is None


@pytest_twisted.inlineCallbacks
def test_a_quick_copy_at_another_process_proven_there_is_the_citizen_again(stores):
    """gw-a proves its resp within the grace: the SMSC will not resend it, so gw-b's copy is
    the citizen's second message and becomes a reply (the survey marks it duplicate)."""
    a, b = stores(), stores()
    first = yield take(a, deliver(1), A1, live=[A1])
    quick = yield take(b, deliver(2), B1, live=[B1], after=1)
    yield a.mark_acked([first.delivery_id], T0 + timedelta(seconds=5))
    settled = yield b.settle_unsure(quick.unsure_id)
    assert settled.reply is not None and settled.reply.inbound_id == quick.unsure_id
    assert sorted(rows(stores)) == [("new", "3"), ("new", "3")]
    pending = yield b.unsure_replies()
    assert pending == []


@pytest_twisted.inlineCallbacks
def test_a_redelivered_part_is_held_once_and_the_reply_assembled_once(stores):
    """Part 1 redelivered after its link went, then part 2: one complete reply."""
    store = stores()
    yield take(store, part(1, 1, "我不"), A1, live=[A1])
    again = yield take(store, part(2, 1, "我不"), A2, live=[A2], after=2)
    assert again.redelivery_of is not None and again.held_id is None
    done = yield take(store, part(3, 2, "满意"), A2, live=[A2], after=3)
    assert (done.reply.text, done.reply.incomplete) == ("我不满意", False)
    assert rows(stores) == [("new", "我不满意")]


@pytest_twisted.inlineCallbacks
def test_a_part_redelivered_after_its_reply_was_assembled_is_not_held_again(stores):
    store = stores()
    yield take(store, part(1, 1, "我不"), A1, live=[A1])
    done = yield take(store, part(2, 2, "满意"), A1, live=[A1], after=1)
    again = yield take(store, part(3, 2, "满意"), A2, live=[A2], after=2)
    assert again.redelivery_of == done.reply.inbound_id
    assert rows(stores) == [("new", "我不满意")]


@pytest_twisted.inlineCallbacks
def test_parts_split_between_two_processes_make_one_reply(stores):
    """The SMSC gives part 1 to gw-a and part 2 to gw-b: gw-b assembles from both."""
    a, b = stores(), stores()
    held = yield take(a, part(1, 1, "我不"), A1, live=[A1])
    done = yield take(b, part(2, 2, "满意"), B1, live=[B1], after=1)
    assert held.reply is None and held.held_id is not None
    assert (done.reply.text, done.reply.incomplete) == ("我不满意", False)
    assert rows(stores) == [("new", "我不满意")]
    nothing = yield a.assemble_held((PHONE, 9, 2), "gsm0338")
    assert nothing is None  # gw-a's expiry timer finds nothing left to do


@pytest_twisted.inlineCallbacks
def test_parts_taken_at_once_by_two_processes_are_assembled_exactly_once(stores):
    """Both transactions run together; the lock on the reply's key lets only one assemble."""
    for ref in range(1, 6):
        a, b = stores(), stores()
        results = yield defer.gatherResults(
            [
                take(a, part(10 * ref, 1, "我不", ref=ref), A1, live=[A1]),
                take(b, part(10 * ref + 1, 2, "满意", ref=ref), B1, live=[B1]),
            ]
        )
        assert sum(r.reply is not None for r in results) == 1
    assert rows(stores) == [("new", "我不满意")] * 5


@pytest_twisted.inlineCallbacks
def test_expiry_assembles_the_parts_of_every_process_flagged_incomplete(stores):
    """Parts 1 and 2 of 3 in two processes, part 3 lost: the expiry stores both, incomplete."""
    a, b = stores(), stores()
    yield take(a, part(1, 1, "我", total=3), A1, live=[A1])
    yield take(b, part(2, 2, "不", total=3), B1, live=[B1])
    reply = yield a.assemble_held((PHONE, 9, 3), "gsm0338")
    assert (reply.text, reply.incomplete) == ("我不", True)
    assert rows(stores) == [("new", "我不")]


@pytest_twisted.inlineCallbacks
def test_proofs_stamp_the_deliveries_and_old_deliveries_are_pruned(stores):
    if not hasattr(stores, "databases"):
        pytest.skip("SQL only: the ledger table")
    store = stores()
    first = yield take(store, deliver(1), A1, live=[A1])
    yield store.mark_acked([first.delivery_id], T0 + timedelta(seconds=2))
    with stores.databases[0].sessions() as s:
        assert s.get(InboundDelivery, first.delivery_id).acked_at is not None
    yield take(store, deliver(2, "4"), A1, live=[A1], after=3601 + 60)
    with stores.databases[0].sessions() as s:
        assert s.get(InboundDelivery, first.delivery_id) is None


def test_the_last_part_waits_for_a_process_still_holding_the_other(pg_url):
    """PostgreSQL: gw-a's transaction holding part 1 has not committed when gw-b takes part
    2. gw-b waits on the reply's lock, then sees part 1 and assembles; without the lock each
    would see only its own part and neither assemble."""
    import threading

    from storage import inbound_replies

    db = Database(pg_url, reactor=reactor, threads=1)
    Base.metadata.create_all(db.engine)
    key = (PHONE, 9, 2)
    a_inserted, results = threading.Event(), {}

    def take_in(name, pdu, link, hold_open):
        at = T0
        arrival = Arrival(PHONE, fingerprint(pdu), link, frozenset([link]), at, 3600.0, 60.0)
        with db.sessions.begin() as s:
            inbound_replies.lock_keys(s, [key])
            results[name] = inbound_replies.take(s, part_from_pdu(pdu, at), arrival, "gsm0338")
            if hold_open:
                a_inserted.set()
                hold_open()

    def b_waiting_or_done():
        with db.engine.connect() as conn:
            for _ in range(10_000):
                waiting = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                ).scalar()
                if waiting or "b" in results:
                    return
                conn.commit()
        raise AssertionError("gw-b neither waited nor finished")

    a = threading.Thread(target=take_in, args=("a", part(1, 1, "我不"), A1, b_waiting_or_done))
    a.start()
    assert a_inserted.wait(10)
    b = threading.Thread(target=take_in, args=("b", part(2, 2, "满意"), B1, None))
    b.start()
    a.join(10)
    b.join(10)
    try:
        assert results["a"].reply is None
        assert results["b"].reply is not None and results["b"].reply.text == "我不满意"
    finally:
        db.stop()
