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
from gateway.smpp.reassembly import InboundPart
from gateway.smpp.receipts import message_status, part_state_after


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


class SmsStore(Protocol):
    def record_submission(
        self, outcome: SubmitOutcome, parts: Sequence[PartResult]
    ) -> defer.Deferred[list[ReceiptUpdate]]:
        """Store the parts and the message's status; return updates for receipts that had
        arrived before the parts and match them now."""

    def record_receipt(self, receipt: ReceiptRecord) -> defer.Deferred[ReceiptUpdate]: ...

    def hold_inbound_part(self, part: InboundPart) -> defer.Deferred[int]:
        """Persist one part of a multi-part reply until it is assembled; return its row id."""

    def record_inbound(self, record: InboundRecord) -> defer.Deferred[InboundSms]:
        """Store a whole reply (and drop the held parts it replaces) in one transaction."""

    def held_inbound_parts(self) -> defer.Deferred[list[InboundPart]]:
        """Parts held when the process stopped, to restore the reassembler on start."""

    def mark_wired(self, outbound_id: int, at: datetime) -> defer.Deferred[None]:
        """Commit that the first submit_sm of ``outbound_id`` is about to be written to the
        SMSC link: the service writes it only once this has fired. After a crash an SMS
        without the mark never reached the wire and may be sent again; one with it may have
        gone."""

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

    def mark_wired(self, outbound_id: int, at: datetime) -> defer.Deferred[None]:
        self.wired.setdefault(outbound_id, at)
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

    def hold_inbound_part(self, part: InboundPart) -> defer.Deferred[int]:
        try:
            self._check()
        except Exception as exc:
            return defer.fail(exc)
        pid = next(self._ids)
        self.held[pid] = replace(part, stored_id=pid)
        return defer.succeed(pid)

    def record_inbound(self, record: InboundRecord) -> defer.Deferred[InboundSms]:
        try:
            self._check()
        except Exception as exc:
            return defer.fail(exc)
        iid = next(self._ids)
        self.inbound[iid] = record
        for pid in record.part_ids:
            self.held.pop(pid, None)
        return defer.succeed(
            InboundSms(
                iid,
                record.source_addr,
                record.destination_addr,
                record.text,
                record.incomplete,
                record.received_at,
            )
        )

    def held_inbound_parts(self) -> defer.Deferred[list[InboundPart]]:
        return defer.succeed(list(self.held.values()))
