"""The SMPP service's :class:`~gateway.smpp.store.SmsStore` on SQLAlchemy (SQLite or PostgreSQL).

Writes arrive from the reactor thread as operations; they are queued and written in batches, one
transaction per batch, on the database thread pool (never on the reactor thread). One batch of
submissions and receipts is in flight at a time, which is both the group commit that lets a
single process keep up with thousands of submits and receipts per second, and what makes
receipt matching race-free: a receipt and the part it names are never checked in two
concurrent transactions. Replies (and held parts of multi-part replies) touch none of those
rows and have a lane of their own, one batch at a time too: a citizen's answer does not wait
behind a batch of submit outcomes.

If a batch fails, its operations are retried one by one, so one bad operation fails alone and
its caller sees the error (a ``deliver_sm`` is then answered with a temporary error and the SMSC
sends it again: nothing is lost); an outcome retried alone skips the part records already
stored, the first fact on a part attempt winning (``storage.sms_part_keys``). A batch hook
(what depends on an SMS's fate, such as its survey) runs in a savepoint: when it fails, the
SMS rows still commit and the hook's owner is told which outcomes and receipts it did not
settle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.smpp.api import InboundSms, ReceiptUpdate, SubmitOutcome
from gateway.smpp.assembly import part_from_raw
from gateway.smpp.reassembly import InboundPart, Key
from gateway.smpp.receipts import message_status, part_state_after
from gateway.smpp.redelivery import Arrival
from gateway.smpp.store import (
    PartResult,
    ReceiptRecord,
    ReplyTaken,
    Settled,
)
from storage import inbound_replies
from storage.db import Database
from storage.models import (
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    SmsPart,
    UtcDateTime,
)
from storage.sms_part_keys import unrecorded
from storage.sql import SEP, is_postgresql, reserve_ids
from storage.sql import insert_many as _insert_many
from storage.sql import one_of as _one_of
from storage.sql import packed as _packed
from storage.sql import update_by_id as _update_by_id
from storage.survey_outbox import release_unsent

log = Logger(namespace="pingjing.storage.sms")

HELD = inbound_replies.HELD  # a reply part waiting for its siblings


class _Op:
    """One queued write (a plain slots class: thousands a second are made on the reactor)."""

    __slots__ = ("args", "deferred", "kind")

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind = kind  # submission | receipt | hold | inbound
        self.args = args
        self.deferred: defer.Deferred = defer.Deferred()


@dataclass
class _PartRow:
    id: int
    outbound_id: int
    part_number: int
    parts_total: int
    receipt_state: str | None
    final_at: datetime | None
    dirty: bool = False


# Called inside each batch's transaction with the batch's submit outcomes and the receipt
# updates it produced, after the messages' own rows are written: what depends on an SMS's fate
# (a survey's state) then commits with it, in the same transaction.
BatchHook = Callable[[Session, list[SubmitOutcome], list[ReceiptUpdate]], None]
# Called on the reactor thread, after the batch committed without what its hook wrote.
HookFailed = Callable[[list[SubmitOutcome], list[ReceiptUpdate], Failure], None]


@dataclass(frozen=True)
class _Hook:
    settle: BatchHook
    failed: HookFailed | None


@dataclass
class _Unsettled:
    """A hook that raised in a batch, and what it was given."""

    hook: _Hook
    outcomes: list[SubmitOutcome]
    updates: list[ReceiptUpdate]
    failure: Failure


class _Lane:
    """Operations written one batch at a time."""

    __slots__ = ("busy", "queue")

    def __init__(self) -> None:
        self.queue: list[_Op] = []
        self.busy = False


_INBOUND_KINDS = frozenset({"take", "assemble", "acked", "settle"})


class SqlSmsStore:
    """Batching SQL implementation of the store contract."""

    def __init__(self, db: Database, max_batch: int = 2000) -> None:
        self.db = db
        self.max_batch = max_batch
        self._sms = _Lane()  # submissions and receipts
        self._replies = _Lane()  # replies and held reply parts
        self._wire = _Lane()  # wire marks: not behind a batch of outcomes and receipts
        self.batches = 0
        self._hooks: list[_Hook] = []

    def add_batch_hook(self, hook: BatchHook, *, failed: HookFailed | None = None) -> None:
        """Run ``hook`` in every batch's transaction (see :data:`BatchHook`), in a savepoint.

        A hook that raises loses only its own writes: the batch's SMS rows commit, the failure
        is logged, and ``failed(outcomes, updates, failure)`` is called once the batch has
        committed, so that its owner can settle them another way."""
        self._hooks.append(_Hook(hook, failed))

    # --- the contract -------------------------------------------------------------------

    def record_submission(
        self, outcome: SubmitOutcome, parts: Sequence[PartResult]
    ) -> defer.Deferred[list[ReceiptUpdate]]:
        return self._enqueue("submission", outcome, tuple(parts))

    def record_receipt(self, receipt: ReceiptRecord) -> defer.Deferred[ReceiptUpdate]:
        return self._enqueue("receipt", receipt)

    def held_inbound_parts(self) -> defer.Deferred[list[InboundPart]]:
        return self.db.run(_load_held)

    def take_reply(
        self, part: InboundPart, arrival: Arrival, default_coding: str
    ) -> defer.Deferred[ReplyTaken]:
        return self._enqueue("take", part, arrival, default_coding)

    def assemble_held(self, key: Key, default_coding: str) -> defer.Deferred[InboundSms | None]:
        return self._enqueue("assemble", key, default_coding)

    def mark_acked(self, delivery_ids: Sequence[int], at: datetime) -> defer.Deferred[None]:
        return self._enqueue("acked", tuple(delivery_ids), at)

    def settle_unsure(self, inbound_id: int) -> defer.Deferred[Settled | None]:
        return self._enqueue("settle", inbound_id)

    def unsure_replies(self) -> defer.Deferred[list[tuple[int, datetime]]]:
        return self.db.run(inbound_replies.unsure_replies)

    def mark_wired(self, outbound_ids: Sequence[int], at: datetime) -> defer.Deferred[None]:
        run_statement = getattr(self.db, "run_statement", None)
        if run_statement is not None and self.db.engine.dialect.name == "postgresql":
            # one autocommit statement: a mark is one UPDATE, atomic by itself
            ids = _packed(sorted(set(outbound_ids)))
            if ids is not None:
                return run_statement(_MARK_WIRED_SQL, (at, ids)).addCallback(lambda _: None)
        return self._enqueue("wire", tuple(outbound_ids), at)

    def release_unsent(self, outbound_ids: Sequence[int], at: datetime) -> defer.Deferred[int]:
        return self.db.run(release_unsent, list(outbound_ids), at)

    # --- batching -----------------------------------------------------------------------

    def _enqueue(self, kind: str, *args: Any) -> defer.Deferred:
        op = _Op(kind, args)
        if kind == "wire":
            lane = self._wire
        else:
            lane = self._replies if kind in _INBOUND_KINDS else self._sms
        lane.queue.append(op)
        if not lane.busy:
            self._flush(lane)
        return op.deferred

    def _flush(self, lane: _Lane) -> None:
        ops, lane.queue = lane.queue[: self.max_batch], lane.queue[self.max_batch :]
        if not ops:
            return
        lane.busy = True
        self.batches += 1
        run = self.db.run
        if lane is self._wire and hasattr(self.db, "run_urgent"):
            run = self.db.run_urgent  # the send path waits on it: not behind other batches
        d = run(_run_batch, ops, self._hooks)

        def done(batch: tuple[list[Any], list[_Unsettled]]) -> None:
            results, unsettled = batch
            self._report_unsettled(unsettled)
            for op, result in zip(ops, results, strict=True):
                op.deferred.callback(result)

        def failed(f: Failure) -> defer.Deferred:
            log.failure("a batch of {n} SMS writes failed; retrying them one by one", f, n=len(ops))
            return self._one_by_one(ops)

        d.addCallbacks(done, failed)
        d.addErrback(lambda f: log.failure("SMS store batch bookkeeping failed", f))
        d.addBoth(self._batch_finished, lane)

    @defer.inlineCallbacks
    def _one_by_one(self, ops: list[_Op]):
        for op in ops:
            try:
                (result,), unsettled = yield self.db.run(
                    _run_batch, [op], self._hooks, first_wins=True
                )
            except Exception:
                op.deferred.errback(Failure())
            else:
                self._report_unsettled(unsettled)
                op.deferred.callback(result)

    def _report_unsettled(self, unsettled: list[_Unsettled]) -> None:
        for u in unsettled:
            log.failure(
                "a batch hook failed for {n} submit outcomes and {m} receipt updates; "
                "the SMS writes are committed without it",
                u.failure,
                n=len(u.outcomes),
                m=len(u.updates),
            )
            if u.hook.failed is not None:
                try:
                    u.hook.failed(u.outcomes, u.updates, u.failure)
                except Exception:
                    log.failure("the failure handler of a batch hook raised")

    def _batch_finished(self, _: object, lane: _Lane) -> None:
        lane.busy = False
        if lane.queue:
            self._flush(lane)


# --- the batch, on a pool thread ------------------------------------------------------------


def _run_batch(
    session: Session, ops: list[_Op], hooks: Sequence[_Hook] = (), first_wins: bool = False
) -> tuple[list[Any], list[_Unsettled]]:
    """Write ``ops``; the results in their order, and the hooks that raised. With
    ``first_wins`` (an operation retried alone) part records already stored are not written
    again (``storage.sms_part_keys``)."""
    results: list[Any] = [None] * len(ops)
    unsettled: list[_Unsettled] = []
    wires = [(oid, op.args[1]) for op in ops if op.kind == "wire" for oid in op.args[0]]
    if wires:
        _mark_wired(session, wires)
    submissions = [(i, op) for i, op in enumerate(ops) if op.kind == "submission"]
    if first_wins and submissions:
        submissions = _without_recorded(session, submissions, results)
    receipts = [(i, op) for i, op in enumerate(ops) if op.kind == "receipt"]
    orphan_updates: dict[int, list[tuple[int, ReceiptRecord]]] = {}
    submitted: dict[int, dict[str, Any]] = {}
    finals: dict[int, str] = {}
    if submissions:
        orphan_updates, submitted, receipts = _write_submissions(
            session, submissions, receipts, results, finals
        )
    work: list[tuple[int | None, ReceiptRecord, int | None]] = []
    for i, recs in orphan_updates.items():
        for rid, rec in recs:
            work.append((i, rec, rid))
    for i, op in receipts:
        work.append((i, op.args[0], None))
    if work:
        finals.update(_apply_receipts(session, work, results))
    _write_outbound_status(session, submitted, finals)
    if hooks and (submissions or work):
        outcomes = [op.args[0] for _, op in submissions]
        updates: list[ReceiptUpdate] = []
        for result in results:
            if isinstance(result, ReceiptUpdate):
                updates.append(result)
            elif isinstance(result, list):
                updates.extend(result)
        for hook in hooks:
            try:
                with session.begin_nested():
                    hook.settle(session, outcomes, updates)
            except Exception:
                unsettled.append(_Unsettled(hook, outcomes, updates, Failure()))
    _replies(session, ops, results)
    return results, unsettled


def _without_recorded(
    session: Session, submissions: list[tuple[int, _Op]], results: list[Any]
) -> list[tuple[int, _Op]]:
    kept = []
    for (i, _), write in zip(
        submissions, unrecorded(session, [op.args for _, op in submissions]), strict=True
    ):
        if write is None:
            results[i] = []  # recorded before: no receipts newly matched
        else:
            kept.append((i, _Op("submission", write)))
    return kept


def _replies(session: Session, ops: list[_Op], results: list[Any]) -> None:
    """Replies taken, long replies assembled, resps proven (storage/inbound_replies.py)."""
    keys = [op.args[0] for op in ops if op.kind == "assemble"]
    keys += [_key(op.args[0]) for op in ops if op.kind == "take" and op.args[0].total > 1]
    inbound_replies.lock_keys(session, keys)
    arrivals = []
    takes = [i for i, op in enumerate(ops) if op.kind == "take"]
    plain = inbound_replies.take_plain(session, [ops[i].args for i in takes])
    taken = {i: r for i, r in zip(takes, plain, strict=True) if r is not None}
    for i, op in enumerate(ops):
        if op.kind == "take":
            results[i] = taken[i] if i in taken else inbound_replies.take(session, *op.args)
            arrivals.append(op.args[1])
        elif op.kind == "assemble":
            results[i] = inbound_replies.assemble(session, *op.args)
        elif op.kind == "acked":
            inbound_replies.mark_acked(session, *op.args)
        elif op.kind == "settle":
            results[i] = inbound_replies.settle_unsure(session, *op.args)
    inbound_replies.prune(session, arrivals)


def _key(part: InboundPart) -> Key:
    return (part.source_addr, part.reference, part.total)


_PART_COLUMNS = (
    "outbound_id",
    "part_number",
    "parts_total",
    "attempt",
    "sequence_number",
    "message_id",
    "message_key",
    "status",
    "command_status",
    "error",
    "submitted_at",
    "responded_at",
)
# PartResult's fields carry the column names: one C-level getter builds each COPY row
_part_row = attrgetter(*_PART_COLUMNS)
_RECEIPT_COLUMNS = (
    "message_id",
    "message_key",
    "sms_part_id",
    "state",
    "error_code",
    "submit_date",
    "done_date",
    "source_addr",
    "text",
    "received_at",
)


_o = OutboundMessage.__table__
# as _mark_wired, for PostgreSQL's driver directly (ids joined by storage.sql.packed). The
# status is compared as an expression (``|| ''``) so that it is only a filter on the rows the
# ids found: as a plain column PostgreSQL ANDs the id lookup with a scan of the status index,
# whose 'submitting' range keeps an entry for every claim since the last VACUUM (57,000 at
# 30,000 SMS sent: 4.4 ms a mark instead of 0.2 ms; docs/benchmarks.md, eighth round).
_MARK_WIRED_SQL = (
    f"UPDATE {_o.name} SET wire_at = %s "
    f"WHERE id = ANY(CAST(string_to_array(%s, chr({ord(SEP)})) AS int[])) "
    "AND wire_at IS NULL AND status || '' = 'submitting'"
)


def _mark_wired(session: Session, wires: list[tuple[int, datetime]]) -> None:
    """Stamp ``wire_at`` on SMS about to be written (once: a resend keeps the first time)."""
    o = OutboundMessage.__table__  # Core: no ORM session to synchronise (a third of its CPU)
    at = min(when for _, when in wires)
    ids = sorted({oid for oid, _ in wires})
    # only on a claimed row: a mark that commits after a stop released its SMS must not
    # stick to the queued row
    session.execute(
        sa.update(o)
        .where(_one_of(session, o.c.id, ids), o.c.wire_at.is_(None), o.c.status == "submitting")
        .values(wire_at=at)
    )


def _write_outbound_status(
    session: Session, submitted: dict[int, dict[str, Any]], finals: dict[int, str]
) -> None:
    """Write each message's status once per batch. A receipt usually arrives a few
    milliseconds after its submit_sm_resp, so most messages of a batch were both submitted and
    finished by it: one UPDATE of their row (the last state, as two UPDATEs in turn would
    leave it) instead of two, each of which writes an entry into every index of the table."""
    now = datetime.now(UTC)
    for oid, status in finals.items():
        row = submitted.get(oid)
        if row is not None:
            row["status"] = status
    _update_by_id(session, OutboundMessage, list(submitted.values()))
    only_final = [
        {"id": oid, "status": status, "updated_at": now}
        for oid, status in finals.items()
        if oid not in submitted
    ]
    _update_by_id(session, OutboundMessage, only_final)


def _write_submissions(
    session: Session,
    submissions: list[tuple[int, _Op]],
    receipts: list[tuple[int, _Op]],
    results: list[Any],
    finals: dict[int, str],
) -> tuple[
    dict[int, list[tuple[int, ReceiptRecord]]], dict[int, dict[str, Any]], list[tuple[int, _Op]]
]:
    """Store the parts. Return the stored receipts that were waiting for them, the messages'
    new status rows (written by ``_write_outbound_status`` with the batch's receipts), and the
    batch's receipts still to match (``_fold_receipts`` may have settled some already)."""
    now = datetime.now(UTC)
    updates = {
        op.args[0].outbound_id: {
            "id": op.args[0].outbound_id,
            "status": op.args[0].status,
            "parts_count": op.args[0].parts,
            "error": (op.args[0].error or None) and op.args[0].error[:128],
            "updated_at": now,
        }
        for _, op in submissions
    }
    for i, _ in submissions:
        results[i] = []
    # receipts that came before these parts were recorded
    keys = {r["message_key"]: i for (i, op) in submissions for r in _keys_of(op)}
    found: dict[int, list[tuple[int, ReceiptRecord]]] = {}
    if keys:
        orphans = session.execute(
            sa.select(DeliveryReceipt)
            .where(
                _one_of(session, DeliveryReceipt.message_key, list(keys)),
                DeliveryReceipt.sms_part_id.is_(None),
            )
            .order_by(DeliveryReceipt.id)
        ).scalars()
        for r in orphans:
            rec = ReceiptRecord(
                r.message_id,
                r.message_key or "",
                r.state,
                r.error_code,
                r.submit_date,
                r.done_date,
                r.source_addr,
                r.text,
                r.received_at,
            )
            found.setdefault(keys[r.message_key], []).append((r.id, rec))
    waiting = {rec.message_key for recs in found.values() for _, rec in recs}
    if receipts and is_postgresql(session):
        receipts = _fold_receipts(session, submissions, receipts, waiting, results, finals)
    else:
        rows = [row for _, op in submissions for row in map(_part_row, op.args[1])]
        _insert_many(session, SmsPart, _PART_COLUMNS, rows)
    return found, updates, receipts


def _fold_receipts(
    session: Session,
    submissions: list[tuple[int, _Op]],
    receipts: list[tuple[int, _Op]],
    waiting: set[str],
    results: list[Any],
    finals: dict[int, str],
) -> list[tuple[int, _Op]]:
    """Write the batch's parts, settling the one-part messages whose receipts came in the same
    batch (the usual case: a receipt follows its submit_sm_resp within milliseconds).

    Such a part is written with its receipt state, and its receipts with its id, instead of
    written bare and then updated: an UPDATE of a freshly copied row writes a new version of it
    and an entry into each of its indexes. The result is the one ``_apply_receipts`` gives
    (the same ``part_state_after`` and ``message_status``, receipts in arrival order); a key
    with stored receipts still waiting, or named by two parts of the batch, takes that path.
    Returns the receipts left for it.
    """
    by_key: dict[str, list[tuple[int, ReceiptRecord]]] = {}
    for i, op in receipts:
        rec = op.args[0]
        if rec.message_key:
            by_key.setdefault(rec.message_key, []).append((i, rec))
    named: dict[str, int] = {}
    for _, op in submissions:
        for p in op.args[1]:
            if p.status == "submitted" and p.message_key:
                named[p.message_key] = named.get(p.message_key, 0) + 1
    rows = [row for _, op in submissions for row in map(_part_row, op.args[1])]
    [ids] = reserve_ids(session, (SmsPart.__table__,), len(rows))
    part_rows: list[tuple[Any, ...]] = []
    receipt_rows: list[tuple[Any, ...]] = []
    settled: set[int] = set()
    position = 0
    for _, op in submissions:
        outcome = op.args[0]
        for p in op.args[1]:
            pid, row = ids[position], rows[position]
            position += 1
            key = p.message_key
            fresh = by_key.get(key) if key else None
            if (
                not fresh
                or p.status != "submitted"
                or p.parts_total != 1
                or outcome.parts != 1
                or named[key] != 1
                or key in waiting
            ):
                part_rows.append((pid, *row, None, None))
                continue
            state: str | None = None
            final_at: datetime | None = None
            for index, rec in fresh:
                new = part_state_after(state, final_at, rec.state, rec.done_date)
                if new != state:
                    state = new
                    final_at = rec.done_date or final_at or rec.received_at
                final = message_status([state], 1)
                if final is not None:
                    finals[p.outbound_id] = final
                results[index] = ReceiptUpdate(
                    p.outbound_id, rec.message_id, rec.state, final, rec.done_date, rec.received_at
                )
                receipt_rows.append(_receipt_row(rec, pid))
                settled.add(index)
            part_rows.append((pid, *row, state, final_at))
    _insert_many(session, SmsPart, ("id", *_PART_COLUMNS, "receipt_state", "final_at"), part_rows)
    _insert_many(session, DeliveryReceipt, _RECEIPT_COLUMNS, receipt_rows)
    return [(i, op) for i, op in receipts if i not in settled]


def _receipt_row(rec: ReceiptRecord, part_id: int | None) -> tuple[Any, ...]:
    return (
        rec.message_id,
        rec.message_key or None,
        part_id,
        rec.state,
        rec.error_code,
        rec.submit_date,
        rec.done_date,
        rec.source_addr,
        rec.text,
        rec.received_at,
    )


def _keys_of(op: _Op) -> list[dict[str, str]]:
    return [
        {"message_key": p.message_key}
        for p in op.args[1]
        if p.message_key and p.status == "submitted"
    ]


def _apply_receipts(
    session: Session,
    work: list[tuple[int | None, ReceiptRecord, int | None]],
    results: list[Any],
) -> dict[int, str]:
    """Match receipts (new ones, and stored orphans now matchable) to parts, in order; return
    the messages they finished, with their final status."""
    keys = {rec.message_key for _, rec, _ in work if rec.message_key}
    by_key: dict[str, _PartRow] = {}
    siblings: dict[int, dict[int, _PartRow]] = {}
    if keys:
        rows = _parts_and_siblings(session, list(keys))
        named_by_key: dict[str, tuple[int, int]] = {}
        for row in rows:
            part = _PartRow(*row[:6])
            siblings.setdefault(part.outbound_id, {})[part.part_number] = part  # latest wins
            if row[6] in keys:
                named_by_key[row[6]] = (part.outbound_id, part.part_number)  # latest wins
        # share one object per (message, part number) so in-batch duplicates see each
        # other's effect
        for key, (oid, number) in named_by_key.items():
            by_key[key] = siblings[oid][number]
    new_receipts: list[tuple[Any, ...]] = []
    linked: list[dict[str, Any]] = []
    finals: dict[int, str] = {}
    for index, rec, existing_id in work:
        part = by_key.get(rec.message_key) if rec.message_key else None
        if part is None:
            update = ReceiptUpdate(None, rec.message_id, rec.state, None)
        else:
            new = part_state_after(part.receipt_state, part.final_at, rec.state, rec.done_date)
            if new != part.receipt_state:
                part.receipt_state = new
                part.final_at = rec.done_date or part.final_at or rec.received_at
                part.dirty = True
            group = siblings.get(part.outbound_id, {part.part_number: part})
            final = message_status([p.receipt_state for p in group.values()], part.parts_total)
            if final is not None:
                finals[part.outbound_id] = final
            update = ReceiptUpdate(
                part.outbound_id, rec.message_id, rec.state, final, rec.done_date, rec.received_at
            )
        if existing_id is None:
            new_receipts.append(_receipt_row(rec, part.id if part else None))
        elif part is not None:
            linked.append({"id": existing_id, "sms_part_id": part.id})
        if index is not None:
            if isinstance(results[index], list):
                results[index].append(update)  # a submission collecting its orphans
            else:
                results[index] = update
    _insert_many(session, DeliveryReceipt, _RECEIPT_COLUMNS, new_receipts)
    if linked:
        session.execute(sa.update(DeliveryReceipt), linked)
    dirty = [
        {"id": p.id, "receipt_state": p.receipt_state, "final_at": p.final_at}
        for group in siblings.values()
        for p in group.values()
        if p.dirty
    ]
    _update_by_id(session, SmsPart, dirty)
    return finals


_PARTS_AND_SIBLINGS_PG = sa.text(
    "SELECT p.id, p.outbound_id, p.part_number, p.parts_total, p.receipt_state, p.final_at,"
    " p.message_key"
    " FROM (SELECT DISTINCT n.outbound_id"
    "       FROM unnest(string_to_array(:keys, chr(31))) AS k(key)"
    "       JOIN sms_parts AS n ON n.message_key = k.key AND n.status = 'submitted') AS o"
    " JOIN sms_parts AS p ON p.outbound_id = o.outbound_id AND p.status = 'submitted'"
    " ORDER BY p.id"
).columns(final_at=UtcDateTime())


def _parts_and_siblings(session: Session, keys: list[str]) -> Sequence[Any]:
    """The submitted parts the receipt keys name, and all their siblings, in one round trip.

    On PostgreSQL the statement is driven by the key list (a join from ``unnest``), not by
    ``outbound_id IN (subquery)``: on a table without statistics yet (a new database, or a
    burst before autovacuum's first ANALYZE) the planner turned that form into a nested loop
    over a sequential scan, quadratic in the table size, which took 2 s a batch at 15,000 rows.
    """
    packed = _packed(keys)
    if is_postgresql(session) and packed is not None:
        return session.execute(_PARTS_AND_SIBLINGS_PG, {"keys": packed}).all()
    named = (
        sa.select(SmsPart.outbound_id)
        .where(_one_of(session, SmsPart.message_key, keys), SmsPart.status == "submitted")
        .scalar_subquery()
    )
    q = (
        sa.select(
            SmsPart.id,
            SmsPart.outbound_id,
            SmsPart.part_number,
            SmsPart.parts_total,
            SmsPart.receipt_state,
            SmsPart.final_at,
            SmsPart.message_key,
        )
        .where(SmsPart.outbound_id.in_(named), SmsPart.status == "submitted")
        .order_by(SmsPart.id)
    )
    return session.execute(q).all()


def _load_held(session: Session) -> list[InboundPart]:
    parts = []
    for row in session.execute(
        sa.select(InboundMessage).where(InboundMessage.match_status == HELD)
    ).scalars():
        part = inbound_part_from_raw(bytes.fromhex(row.raw_hex), row.received_at, row.id)
        if part is not None:
            parts.append(part)
    return parts


# held parts are read back by the shared reader (also used by cross-process assembly)
inbound_part_from_raw = part_from_raw
