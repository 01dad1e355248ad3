"""The batching SQL store, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer, reactor

from gateway.smpp import codec
from gateway.smpp.api import SubmitOutcome
from gateway.smpp.reassembly import InboundPart
from gateway.smpp.redelivery import Arrival
from gateway.smpp.store import PartResult, ReceiptRecord
from storage.db import Database
from storage.models import Base, DeliveryReceipt, InboundMessage, OutboundMessage, SmsPart
from storage.sms_store import SqlSmsStore

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


@pytest.fixture
def db(any_db_url):
    database = Database(any_db_url, reactor=reactor, threads=2)
    Base.metadata.create_all(database.engine)
    with database.sessions.begin() as s:
        for i in range(1, 6):
            s.add(OutboundMessage(id=i, kind="survey", destination="13812345678", text="评价"))
    yield database
    database.stop()


def part(oid: int, n: int = 1, total: int = 1, mid: str | None = "A1", status="submitted"):
    return PartResult(
        oid, n, total, 1, 10 + n, mid, mid.lower() if mid else None, status,
        0 if status == "submitted" else 0x0B, None, NOW, NOW,
    )  # fmt: skip


def receipt(mid: str, state: str = "DELIVRD", done: datetime | None = None) -> ReceiptRecord:
    text = f"id:{mid} stat:{state}"
    return ReceiptRecord(mid, mid.lower(), state, "000", None, done, "13812345678", text, NOW)


def outcome(oid: int, ids=("A1",), parts=1, status="submitted", error=None) -> SubmitOutcome:
    return SubmitOutcome(oid, status, tuple(ids), parts, error)


def status_of(db: Database, oid: int) -> str:
    with db.sessions() as s:
        return s.get(OutboundMessage, oid).status


@pytest_twisted.inlineCallbacks
def test_submission_is_recorded_with_parts_and_status(db):
    """Parts carry seq, message id, key, status; the outbound row gets status and count."""
    store = SqlSmsStore(db)
    updates = yield store.record_submission(outcome(1), [part(1)])
    assert updates == []
    with db.sessions() as s:
        row = s.scalars(sa.select(SmsPart)).one()
        assert (row.sequence_number, row.message_id, row.message_key) == (11, "A1", "a1")
        out = s.get(OutboundMessage, 1)
        assert (out.status, out.parts_count) == ("submitted", 1)


@pytest_twisted.inlineCallbacks
def test_receipt_after_submission_makes_the_message_delivered(db):
    """DELIVRD for the only part → outbound delivered."""
    store = SqlSmsStore(db)
    yield store.record_submission(outcome(1), [part(1)])
    update = yield store.record_receipt(receipt("A1"))
    assert (update.outbound_id, update.final_status) == (1, "delivered")
    assert status_of(db, 1) == "delivered"


@pytest_twisted.inlineCallbacks
def test_receipt_before_submission_is_matched_later(db):
    """A receipt with no part is kept; recording the part matches it and reports it."""
    store = SqlSmsStore(db)
    early = yield store.record_receipt(receipt("B2"))
    assert early.outbound_id is None
    updates = yield store.record_submission(outcome(2, ("B2",)), [part(2, mid="B2")])
    assert [(u.outbound_id, u.final_status) for u in updates] == [(2, "delivered")]
    assert status_of(db, 2) == "delivered"
    with db.sessions() as s:
        assert s.scalars(sa.select(DeliveryReceipt.sms_part_id)).one() is not None


@pytest_twisted.inlineCallbacks
def test_duplicates_and_out_of_order_in_one_batch_end_delivered(db):
    """ENROUTE, DELIVRD, DELIVRD, ENROUTE queued together: delivered, four rows kept."""
    store = SqlSmsStore(db)
    yield store.record_submission(outcome(3, ("C3",)), [part(3, mid="C3")])
    results = yield defer.gatherResults(
        [
            store.record_receipt(receipt("C3", st))
            for st in ("ENROUTE", "DELIVRD", "DELIVRD", "ENROUTE")
        ]
    )
    assert [u.final_status for u in results] == [None, "delivered", "delivered", "delivered"]
    assert status_of(db, 3) == "delivered"
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DeliveryReceipt)) == 4


@pytest_twisted.inlineCallbacks
def test_multipart_message_is_delivered_when_every_part_is(db):
    """Two parts: after one DELIVRD, not final; after both, delivered."""
    store = SqlSmsStore(db)
    yield store.record_submission(
        outcome(4, ("D1", "D2"), 2), [part(4, 1, 2, "D1"), part(4, 2, 2, "D2")]
    )
    first = yield store.record_receipt(receipt("D1"))
    second = yield store.record_receipt(receipt("D2"))
    assert (first.final_status, second.final_status) == (None, "delivered")


@pytest_twisted.inlineCallbacks
def test_undelivered_part_makes_the_message_undeliverable(db):
    """UNDELIV on a part → undeliverable."""
    store = SqlSmsStore(db)
    yield store.record_submission(outcome(5, ("E1",)), [part(5, mid="E1")])
    update = yield store.record_receipt(receipt("E1", "UNDELIV"))
    assert update.final_status == "undeliverable"
    assert status_of(db, 5) == "undeliverable"


@pytest_twisted.inlineCallbacks
def test_a_bad_operation_fails_alone(db):
    """A submission for a missing outbound row fails; the receipt batched with it is stored."""
    store = SqlSmsStore(db)
    bad = store.record_submission(outcome(999, ("Z",)), [part(999, mid="Z")])
    good = store.record_receipt(receipt("Q"))
    results = yield defer.DeferredList([bad, good], consumeErrors=True)
    assert results[0][0] is False
    assert results[1][0] is True


def held_part(n: int) -> InboundPart:
    payload = bytes([5, 0, 3, 7, 2, n]) + ("我不满意"[n - 1 :: 2]).encode("utf-16-be")
    raw = codec.encode("deliver_sm", n, source_addr="13812345678", destination_addr="10690",
                       esm_class=0x40, data_coding=8, short_message=payload)  # fmt: skip
    return InboundPart("13812345678", "10690", 7, 2, n, payload[6:], 8, 0x40, raw, NOW)


def arrival_of(part: InboundPart) -> Arrival:
    return Arrival(
        part.source_addr, f"fp{part.number}", "link-1", frozenset(["link-1"]), NOW, 3600.0, 60.0
    )


@pytest_twisted.inlineCallbacks
def test_held_parts_survive_a_restart_and_are_replaced_by_the_whole_reply(db):
    """A held part is restored from its raw PDU; the whole reply, once its last part comes,
    replaces it."""
    store = SqlSmsStore(db)
    first = held_part(1)
    taken = yield store.take_reply(first, arrival_of(first), "gsm0338")
    assert taken.reply is None
    restored = yield SqlSmsStore(db).held_inbound_parts()
    assert [(p.reference, p.total, p.number, p.stored_id) for p in restored] == [
        (7, 2, 1, taken.held_id)
    ]
    assert restored[0].data == first.data
    second = held_part(2)
    taken = yield SqlSmsStore(db).take_reply(second, arrival_of(second), "gsm0338")
    assert (taken.reply.text, taken.reply.incomplete) == ("我满不意", False)  # parts in order
    with db.sessions() as s:
        rows = s.scalars(sa.select(InboundMessage)).all()
        assert [(r.match_status, r.text) for r in rows] == [("new", "我满不意")]


@pytest_twisted.inlineCallbacks
def test_message_id_with_the_packing_separator_still_matches(db):
    """An id containing U+001F (the separator lookups join keys with) falls back to a real
    array and its receipt still finds the part."""
    store = SqlSmsStore(db)
    odd = "A\x1fB"
    yield store.record_submission(outcome(1, ids=(odd,)), [part(1, mid=odd)])
    update = yield store.record_receipt(receipt(odd))
    assert (update.outbound_id, update.final_status) == (1, "delivered")


@pytest_twisted.inlineCallbacks
def test_batch_mixing_one_part_and_two_part_messages_finishes_each_correctly(db):
    """In one batch, receipts for a one-part message and for one of two parts of another:
    the first ends delivered, the second waits for its sibling, then ends delivered."""
    store = SqlSmsStore(db)
    yield defer.gatherResults(
        [
            store.record_submission(outcome(1), [part(1, mid="A1")]),
            store.record_submission(
                outcome(2, ids=("B1", "B2"), parts=2),
                [part(2, 1, 2, mid="B1"), part(2, 2, 2, mid="B2")],
            ),
        ]
    )
    busy = store.record_submission(outcome(3, ids=("C1",)), [part(3, mid="C1")])
    # queued behind that write (in flight or queued): the two receipts share one batch
    _, one, first = yield defer.gatherResults(
        [busy, store.record_receipt(receipt("A1")), store.record_receipt(receipt("B1"))]
    )
    assert (one.outbound_id, one.final_status) == (1, "delivered")
    assert (first.outbound_id, first.final_status) == (2, None)
    second = yield store.record_receipt(receipt("B2"))
    assert (second.outbound_id, second.final_status) == (2, "delivered")
    assert status_of(db, 2) == "delivered"


@pytest_twisted.inlineCallbacks
def test_submission_and_its_receipt_in_one_batch_leave_one_final_row(db):
    """The usual case under load: a submit_sm_resp and its receipt queued together. The
    message ends delivered with its part count, next to one only submitted and one finished
    by a receipt alone."""
    store = SqlSmsStore(db)
    yield store.record_submission(outcome(1, ids=("A1",)), [part(1, mid="A1")])
    busy = store.record_submission(outcome(5, ids=("E5",)), [part(5, mid="E5")])
    # these three wait behind the write in flight and go together in the next batch
    _, sub, rec, _, late = yield defer.gatherResults(
        [
            busy,
            store.record_submission(outcome(2, ids=("B2",)), [part(2, mid="B2")]),
            store.record_receipt(receipt("B2")),
            store.record_submission(outcome(3, ids=("C3",)), [part(3, mid="C3")]),
            store.record_receipt(receipt("A1")),
        ]
    )
    assert sub == [] and (rec.outbound_id, rec.final_status) == (2, "delivered")
    assert (late.outbound_id, late.final_status) == (1, "delivered")
    with db.sessions() as s:
        rows = {
            r.id: (r.status, r.parts_count)
            for r in s.scalars(sa.select(OutboundMessage).where(OutboundMessage.id.in_([1, 2, 3])))
        }
    assert rows == {1: ("delivered", 1), 2: ("delivered", 1), 3: ("submitted", 1)}


def part_row(db, oid):
    with db.sessions() as s:
        return s.scalars(sa.select(SmsPart).where(SmsPart.outbound_id == oid)).all()


def receipts_of(db, key):
    with db.sessions() as s:
        return s.scalars(
            sa.select(DeliveryReceipt)
            .where(DeliveryReceipt.message_key == key)
            .order_by(DeliveryReceipt.id)
        ).all()


@pytest_twisted.inlineCallbacks
def test_receipts_in_the_batch_of_their_submission_settle_the_part(db):
    """ENROUTE, a receipt overtaking the resp, DELIVRD and a duplicate, all queued with the
    submission: one part row in its final state, every receipt kept and linked to it."""
    store = SqlSmsStore(db)
    busy = store.record_submission(outcome(5, ids=("E5",)), [part(5, mid="E5")])
    done_at = datetime(2026, 11, 28, 3, 1, tzinfo=UTC)
    _, early, sub, enroute, delivered, again = yield defer.gatherResults(
        [
            busy,
            store.record_receipt(receipt("B2", "ENROUTE")),  # before its submit_sm_resp
            store.record_submission(outcome(2, ids=("B2",)), [part(2, mid="B2")]),
            store.record_receipt(receipt("B2", "ACCEPTD")),
            store.record_receipt(receipt("B2", "DELIVRD", done=done_at)),
            store.record_receipt(receipt("B2", "DELIVRD", done=done_at)),
        ]
    )
    assert sub == []
    assert [u.final_status for u in (early, enroute, delivered, again)] == [
        None,
        None,
        "delivered",
        "delivered",
    ]
    assert {u.outbound_id for u in (early, enroute, delivered, again)} == {2}
    [row] = part_row(db, 2)
    assert (row.receipt_state, row.final_at) == ("DELIVRD", done_at)
    assert [r.sms_part_id for r in receipts_of(db, "b2")] == [row.id] * 4
    assert status_of(db, 2) == "delivered"


@pytest_twisted.inlineCallbacks
def test_stored_early_receipt_and_a_fresh_one_apply_in_arrival_order(db):
    """An UNDELIV stored before the part existed, then DELIVRD in the submission's batch: the
    stored one counts first, so the later DELIVRD is final (as receipts in turn would be)."""
    store = SqlSmsStore(db)
    early = yield store.record_receipt(receipt("C3", "UNDELIV"))
    assert early.outbound_id is None
    busy = store.record_submission(outcome(5, ids=("E5",)), [part(5, mid="E5")])
    _, sub, fresh = yield defer.gatherResults(
        [
            busy,
            store.record_submission(outcome(3, ids=("C3",)), [part(3, mid="C3")]),
            store.record_receipt(receipt("C3", "DELIVRD")),
        ]
    )
    assert [(u.outbound_id, u.final_status) for u in sub] == [(3, "undeliverable")]
    assert (fresh.outbound_id, fresh.final_status) == (3, "undeliverable")
    [row] = part_row(db, 3)
    assert [r.sms_part_id for r in receipts_of(db, "c3")] == [row.id, row.id]
    assert status_of(db, 3) == "undeliverable"


@pytest_twisted.inlineCallbacks
def test_two_part_message_with_both_receipts_in_its_batch_is_delivered(db):
    store = SqlSmsStore(db)
    busy = store.record_submission(outcome(5, ids=("E5",)), [part(5, mid="E5")])
    _, sub, first, second = yield defer.gatherResults(
        [
            busy,
            store.record_submission(
                outcome(4, ("D1", "D2"), 2), [part(4, 1, 2, "D1"), part(4, 2, 2, "D2")]
            ),
            store.record_receipt(receipt("D1")),
            store.record_receipt(receipt("D2")),
        ]
    )
    assert sub == []
    assert (first.final_status, second.final_status) == (None, "delivered")
    assert sorted(r.receipt_state for r in part_row(db, 4)) == ["DELIVRD", "DELIVRD"]
    assert status_of(db, 4) == "delivered"


class PendingDb:
    """``run`` records each transaction and returns a Deferred the test fires."""

    def __init__(self):
        self.runs = []

    def run(self, fn, *args):
        d = defer.Deferred()
        self.runs.append((args[0], d))
        return d


def test_replies_do_not_wait_behind_a_batch_of_submissions():
    """Submissions and receipts go one batch at a time (receipt matching needs it); replies
    have their own lane, so a reply is written while a submissions batch is in flight."""
    store = SqlSmsStore(PendingDb())
    runs = store.db.runs
    store.record_submission(SubmitOutcome(1, "submitted", ("A1",), 1, None), [part(1)])
    reply = held_part(1)
    stored = store.take_reply(reply, arrival_of(reply), "gsm0338")
    assert [[op.kind for op in ops] for ops, _ in runs] == [["submission"], ["take"]]
    store.record_receipt(ReceiptRecord("A1", "a1", "DELIVRD", "000", None, None, "138", "", NOW))
    store.take_reply(reply, arrival_of(reply), "gsm0338")
    assert len(runs) == 2  # both lanes busy: the next ones queue behind their own lane
    runs[1][1].callback(([42], []))
    assert stored.result == 42
    assert [op.kind for op in runs[2][0]] == ["take"]
    runs[0][1].callback(([[]], []))
    assert [op.kind for op in runs[3][0]] == ["receipt"]
