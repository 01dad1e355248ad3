"""What the SMPP service persists, as an interface, and an in-memory implementation for tests.

The service never writes SQL; it hands finished facts to a :class:`SmsStore` and waits for the
commit before acting on them (a ``deliver_sm_resp`` goes out only after the reply is stored; a
:class:`SubmitOutcome` is released only after its parts are stored). Receipt matching is the
store's job because it needs the stored parts: a receipt that finds no part is kept with no
part, and is matched when the part is recorded (receipt before ``submit_sm_resp``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from twisted.internet import defer

from gateway.smpp.api import InboundSms, ReceiptUpdate, SubmitOutcome
from gateway.smpp.reassembly import InboundPart, Key
from gateway.smpp.receipts import message_status, part_state_after
from gateway.smpp.redelivery import Arrival, Delivery, judge, settle


@dataclass(frozen=True)
class PartResult:
    """What became of one submit_sm attempt."""

    outbound_id: int
    part_number: int
    parts_total: int
    attempt: int
    sequence_number: int | None
    message_id: str | None  # as the SMSC wrote it in submit_sm_resp
    message_key: str | None  # normalised, for receipt matching
    status: str  # submitted | failed | unknown
    command_status: int | None
    error: str | None
    submitted_at: datetime | None
    responded_at: datetime | None


@dataclass(frozen=True)
class ReceiptRecord:
    message_id: str  # as written in the receipt
    message_key: str
    state: str
    error_code: str | None
    submit_date: datetime | None
    done_date: datetime | None
    source_addr: str | None
    text: str
    received_at: datetime


@dataclass(frozen=True)
class InboundRecord:
    """A reply ready to store: one row, whatever the number of parts it was made of."""

    source_addr: str
    destination_addr: str
    data_coding: int
    esm_class: int
    raw: tuple[bytes, ...]  # every deliver_sm it came from
    text: str
    parts_total: int
    incomplete: bool
    received_at: datetime
    part_ids: tuple[int, ...] = ()  # held parts this row replaces


@dataclass(frozen=True)
class ReplyTaken:
    """What became of one reply ``deliver_sm``."""

    delivery_id: int  # mark it acked once the SMSC is proven to have read our resp
    reply: InboundSms | None  # a reply stored now: this one, or the long one it completed
    held_id: int | None = None  # the row holding this part until its reply is complete
    redelivery_of: int | None = None  # for a redelivery: the row the first copy became
    # kept aside (match_status "unsure") until settle_at: maybe another process's copy
    unsure_id: int | None = None
    settle_at: datetime | None = None


@dataclass(frozen=True)
class Settled:
    """A reply kept aside, decided: stored as new, or a redelivery of an earlier row."""

    reply: InboundSms | None
    redelivery_of: int | None = None
    source_addr: str = ""


class SmsStore(Protocol):
    def record_submission(
        self, outcome: SubmitOutcome, parts: Sequence[PartResult]
    ) -> defer.Deferred[list[ReceiptUpdate]]:
        """Store the parts and the message's status; return updates for receipts that had
        arrived before the parts and match them now."""

    def record_receipt(self, receipt: ReceiptRecord) -> defer.Deferred[ReceiptUpdate]: ...

    def take_reply(
        self, part: InboundPart, arrival: Arrival, default_coding: str
    ) -> defer.Deferred[ReplyTaken]:
        """Store one reply ``deliver_sm`` (a whole reply, or a part held until its reply is
        complete), unless it is the SMSC's redelivery of one stored before
        (:func:`gateway.smpp.redelivery.first_copy`). A part that completes its reply with
        the parts held by every process on the database assembles it in the same
        transaction, under a lock on the reply's key: two processes never both do."""

    def assemble_held(self, key: Key, default_coding: str) -> defer.Deferred[InboundSms | None]:
        """Store the reply ``key`` from the parts held by every process (flagged incomplete
        unless all are there), under the same lock; None if none are held any more
        (another process assembled it)."""

    def mark_acked(self, delivery_ids: Sequence[int], at: datetime) -> defer.Deferred[None]:
        """The SMSC was proven to have read our resps to these deliveries."""

    def settle_unsure(self, inbound_id: int) -> defer.Deferred[Settled | None]:
        """Decide a reply kept aside (:func:`gateway.smpp.redelivery.settle`); None if it was
        decided already (by another process's start-up)."""

    def unsure_replies(self) -> defer.Deferred[list[tuple[int, datetime]]]:
        """Replies kept aside by any process (id, received_at): settled at start-up."""

    def held_inbound_parts(self) -> defer.Deferred[list[InboundPart]]:
        """Parts held when the process stopped, to restore the reassembler on start."""

    def mark_wired(self, outbound_ids: Sequence[int], at: datetime) -> defer.Deferred[None]:
        """Commit that the first submit_sm of each of ``outbound_ids`` is about to be written
        to the SMSC link (one transaction, one Deferred for the batch): the service writes
        them only once this has fired. After a crash an SMS without the mark never reached the
        wire and may be sent again; one with it may have gone."""

    def release_unsent(self, outbound_ids: Sequence[int], at: datetime) -> defer.Deferred[int]:
        """A graceful stop: none of these SMS reached the wire; put them back in the outbox
        (claim given up, wire mark cleared) for whichever process claims them next. Returns
        how many were released. Optional, like ``mark_wired``: without it they end ``failed``."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _MemPart:
    id: int
    result: PartResult
    receipt_state: str | None = None
    done: datetime | None = None


@dataclass
class _MemReceipt:
    id: int
    record: ReceiptRecord
    part_id: int | None


class MemorySmsStore:
    """The :class:`SmsStore` contract in dictionaries; every call commits immediately.

    ``fail_next`` makes the next write fail, to test that nothing is acknowledged uncommitted.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.parts: dict[int, _MemPart] = {}
        self.outbound_status: dict[int, str] = {}
        self.outcomes: list[SubmitOutcome] = []
        self.receipts: list[_MemReceipt] = []
        self.inbound: dict[int, InboundRecord] = {}
        self.held: dict[int, InboundPart] = {}
        self.deliveries: dict[int, tuple[str, str, Delivery]] = {}  # id -> (source, fp, ...)
        self.unsure: dict[int, InboundRecord] = {}  # replies kept aside (see settle_unsure)
        self.fail_next: Exception | None = None
        self.wired: dict[int, datetime] = {}  # outbound id -> when marked (mark_wired)
        self.released: list[int] = []  # outbound ids given back to the outbox at a stop
        self._by_key: dict[str, list[_MemPart]] = {}
        self._by_outbound: dict[int, list[_MemPart]] = {}

    def _check(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    # -- submissions and receipts --------------------------------------------------------

    def record_submission(
        self, outcome: SubmitOutcome, parts: Sequence[PartResult]
    ) -> defer.Deferred[list[ReceiptUpdate]]:
        try:
            self._check()
        except Exception as exc:
            return defer.fail(exc)
        self.outcomes.append(outcome)
        self.outbound_status[outcome.outbound_id] = outcome.status
        updates: list[ReceiptUpdate] = []
        for result in parts:
            part = _MemPart(next(self._ids), result)
            self.parts[part.id] = part
            self._by_outbound.setdefault(result.outbound_id, []).append(part)
            if result.message_key is not None:
                self._by_key.setdefault(result.message_key, []).append(part)
            if result.message_key is None:
                continue
            for rec in self.receipts:
                if rec.part_id is None and rec.record.message_key == result.message_key:
                    rec.part_id = part.id
                    updates.append(self._apply(part, rec.record))
        return defer.succeed(updates)

    def record_receipt(self, receipt: ReceiptRecord) -> defer.Deferred[ReceiptUpdate]:
        try:
            self._check()
        except Exception as exc:
            return defer.fail(exc)
        part = self._find_part(receipt.message_key)
        self.receipts.append(_MemReceipt(next(self._ids), receipt, part.id if part else None))
        if part is None:
            return defer.succeed(ReceiptUpdate(None, receipt.message_id, receipt.state, None))
        return defer.succeed(self._apply(part, receipt))

    def _find_part(self, key: str) -> _MemPart | None:
        found = [p for p in self._by_key.get(key, ()) if p.result.status == "submitted"]
        return max(found, key=lambda p: p.id) if found else None

    def _apply(self, part: _MemPart, receipt: ReceiptRecord) -> ReceiptUpdate:
        new = part_state_after(part.receipt_state, part.done, receipt.state, receipt.done_date)
        if new != part.receipt_state:
            part.receipt_state = new
            part.done = receipt.done_date or part.done
        oid = part.result.outbound_id
        siblings = self._latest_attempt_parts(oid)
        final = message_status([p.receipt_state for p in siblings], part.result.parts_total)
        if final is not None:
            self.outbound_status[oid] = final
        return ReceiptUpdate(
            oid, receipt.message_id, receipt.state, final, receipt.done_date, receipt.received_at
        )

    def _latest_attempt_parts(self, outbound_id: int) -> list[_MemPart]:
        latest: dict[int, _MemPart] = {}
        for p in self._by_outbound.get(outbound_id, ()):
            r = p.result
            if r.status != "submitted":
                continue
            cur = latest.get(r.part_number)
            if cur is None or cur.id < p.id:
                latest[r.part_number] = p
        return list(latest.values())

    def mark_wired(self, outbound_ids: Sequence[int], at: datetime) -> defer.Deferred[None]:
        for oid in outbound_ids:
            self.wired.setdefault(oid, at)
        return defer.succeed(None)

    def release_unsent(self, outbound_ids: Sequence[int], at: datetime) -> defer.Deferred[int]:
        try:
            self._check()
        except Exception as exc:
            return defer.fail(exc)
        fresh = [oid for oid in outbound_ids if oid not in self._by_outbound]
        for oid in fresh:
            self.released.append(oid)
            self.wired.pop(oid, None)
            self.outbound_status[oid] = "queued"
        return defer.succeed(len(fresh))

    # -- replies -------------------------------------------------------------------------

    def held_inbound_parts(self) -> defer.Deferred[list[InboundPart]]:
        return defer.succeed(list(self.held.values()))

    def take_reply(
        self, part: InboundPart, arrival: Arrival, default_coding: str
    ) -> defer.Deferred[ReplyTaken]:
        # imported here: assembly builds this module's InboundRecord
        from gateway.smpp.assembly import key_of, record_from_parts

        try:
            self._check()
        except Exception as exc:
            return defer.fail(exc)
        verdict = judge(arrival, self._earlier(arrival.source_addr, arrival.fingerprint))
        first = verdict.first
        if first is not None:
            return defer.succeed(ReplyTaken(first.id, None, redelivery_of=first.inbound_id))
        if part.total <= 1 and verdict.unsure_until is not None:
            uid = next(self._ids)
            self.unsure[uid] = record_from_parts([part], False, default_coding)
            did = self._delivery(arrival, uid)
            return defer.succeed(
                ReplyTaken(did, None, unsure_id=uid, settle_at=verdict.unsure_until)
            )
        if part.total <= 1:
            reply = self._stored(record_from_parts([part], False, default_coding))
            did = self._delivery(arrival, reply.inbound_id)
            return defer.succeed(ReplyTaken(did, reply))
        pid = next(self._ids)
        self.held[pid] = replace(part, stored_id=pid)
        did = self._delivery(arrival, pid)
        group = [p for p in self.held.values() if key_of(p) == key_of(part)]
        if len({p.number for p in group}) < part.total:
            return defer.succeed(ReplyTaken(did, None, pid))
        reply = self._stored(record_from_parts(group, False, default_coding))
        return defer.succeed(ReplyTaken(did, reply, pid))

    def assemble_held(self, key: Key, default_coding: str) -> defer.Deferred[InboundSms | None]:
        from gateway.smpp.assembly import key_of, record_from_parts

        try:
            self._check()
        except Exception as exc:
            return defer.fail(exc)
        group = [p for p in self.held.values() if key_of(p) == key]
        if not group:
            return defer.succeed(None)
        complete = len({p.number for p in group}) >= key[2]
        return defer.succeed(self._stored(record_from_parts(group, not complete, default_coding)))

    def mark_acked(self, delivery_ids: Sequence[int], at: datetime) -> defer.Deferred[None]:
        for did in delivery_ids:
            src, fp, d = self.deliveries[did]
            if d.acked_at is None:
                self.deliveries[did] = (src, fp, replace(d, acked_at=at))
        return defer.succeed(None)

    def settle_unsure(self, inbound_id: int) -> defer.Deferred[Settled | None]:
        record = self.unsure.pop(inbound_id, None)
        if record is None:
            return defer.succeed(None)
        did, (src, fp, mine) = next(
            (did, v) for did, v in sorted(self.deliveries.items()) if v[2].inbound_id == inbound_id
        )
        first = settle(mine, [d for d in self._earlier(src, fp) if d.id < did])
        if first is not None:
            self.deliveries[did] = (src, fp, replace(mine, inbound_id=first.inbound_id))
            return defer.succeed(Settled(None, first.inbound_id, src))
        self.inbound[inbound_id] = record
        r = record
        sms = InboundSms(
            inbound_id, r.source_addr, r.destination_addr, r.text, r.incomplete, r.received_at
        )
        return defer.succeed(Settled(sms))

    def unsure_replies(self) -> defer.Deferred[list[tuple[int, datetime]]]:
        return defer.succeed([(i, r.received_at) for i, r in self.unsure.items()])

    def _earlier(self, source_addr: str, fingerprint: str) -> list[Delivery]:
        return [
            d for src, fp, d in self.deliveries.values() if (src, fp) == (source_addr, fingerprint)
        ]

    def _delivery(self, arrival: Arrival, inbound_id: int) -> int:
        did = next(self._ids)
        d = Delivery(did, inbound_id, arrival.link, arrival.received_at, None)
        self.deliveries[did] = (arrival.source_addr, arrival.fingerprint, d)
        return did

    def _stored(self, record: InboundRecord) -> InboundSms:
        """The reply's row; it replaces the held parts it was made of, whose deliveries now
        name it."""
        iid = next(self._ids)
        self.inbound[iid] = record
        for pid in record.part_ids:
            self.held.pop(pid, None)
        for did, (src, fp, d) in list(self.deliveries.items()):
            if d.inbound_id in record.part_ids:
                self.deliveries[did] = (src, fp, replace(d, inbound_id=iid))
        return InboundSms(
            iid,
            record.source_addr,
            record.destination_addr,
            record.text,
            record.incomplete,
            record.received_at,
        )
