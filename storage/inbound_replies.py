"""Replies taken once, and long replies assembled across processes (SMS store, SQL side).

Every reply ``deliver_sm`` leaves a row in ``inbound_deliveries`` (kept for the redelivery
window, pruned as new ones come): the redelivery check reads them
(:func:`gateway.smpp.redelivery.first_copy`) and proofs of our ``deliver_sm_resp`` stamp them.

A part of a long reply is held as an ``inbound_messages`` row (``match_status`` ``held``) by
whichever process the SMSC gave it to; the transaction that holds a part, or expires a reply,
first takes a lock on the reply's key (source, reference, total) and then reads the held rows
of every process. On PostgreSQL the lock is ``pg_advisory_xact_lock``: ``SELECT ... FOR
UPDATE`` would lock only rows that exist, and two processes each inserting the last-but-one
and the last part would each see only its own and neither assemble. Keys are locked in order,
so two batches never wait on each other in a cycle. SQLite has one writer at a time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.smpp import encoding
from gateway.smpp.api import InboundSms
from gateway.smpp.assembly import key_of, part_from_raw, record_from_parts
from gateway.smpp.reassembly import InboundPart, Key
from gateway.smpp.redelivery import NEW_REPLY, Arrival, Delivery, judge, settle
from gateway.smpp.store import InboundRecord, ReplyTaken, Settled
from storage.models import REPLY_HELD, InboundDelivery, InboundMessage
from storage.sql import insert_returning_ids, is_postgresql
from storage.sql import one_of as _one_of

HELD = REPLY_HELD
UNSURE = "unsure"  # a reply kept aside until another process's copy is proven or not


def lock_keys(session: Session, keys: Sequence[Key]) -> None:
    if not keys or not is_postgresql(session):
        return
    for lock in sorted({_lock_id(k) for k in keys}):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))


def _lock_id(key: Key) -> int:
    digest = hashlib.sha256(f"pingjing-reply/{key[0]}/{key[1]}/{key[2]}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def take(session: Session, part: InboundPart, arrival: Arrival, coding: str) -> ReplyTaken:
    """See :meth:`gateway.smpp.store.SmsStore.take_reply`; the caller locked the key."""
    verdict = judge(arrival, _earlier(session, arrival))
    if verdict.first is not None:
        return ReplyTaken(verdict.first.id, None, redelivery_of=verdict.first.inbound_id)
    if part.total <= 1:
        record = record_from_parts([part], False, coding)
        if verdict.unsure_until is not None:
            reply = _store(session, record, UNSURE)
            did = _delivered(session, arrival, reply.inbound_id)
            return ReplyTaken(did, None, unsure_id=reply.inbound_id, settle_at=verdict.unsure_until)
        reply = _store(session, record)
        return ReplyTaken(_delivered(session, arrival, reply.inbound_id), reply)
    [held_id] = insert_held(session, [part], coding)
    did = _delivered(session, arrival, held_id)
    group = held_group(session, key_of(part))
    if len({p.number for p in group}) < part.total:
        return ReplyTaken(did, None, held_id)
    return ReplyTaken(did, _store(session, record_from_parts(group, False, coding)), held_id)


def take_plain(
    session: Session,
    takes: Sequence[tuple[InboundPart, Arrival, str]],
) -> list[ReplyTaken | None]:
    """Take, together, the replies of a batch that need no more than storing: whole (one
    part), their content alone in the batch, and no earlier copy that makes them a
    redelivery or unsure (:func:`gateway.smpp.redelivery.judge`). One read of the earlier
    copies, one insert of the replies and one of their deliveries, instead of
    three statements each; None for the others, which :func:`take` takes one by one."""
    keys = [(p.source_addr, a.fingerprint) if p.total <= 1 else None for p, a, _ in takes]
    counts = Counter(k for k in keys if k is not None)
    earlier = _earlier_many(session, [k for k, n in counts.items() if n == 1])
    plain = [
        j
        for j, k in enumerate(keys)
        if k is not None and counts[k] == 1 and judge(takes[j][1], earlier.get(k, ())) == NEW_REPLY
    ]
    results: list[ReplyTaken | None] = [None] * len(takes)
    if not plain:
        return results
    records = [record_from_parts([takes[j][0]], False, takes[j][2]) for j in plain]
    replies = insert_replies(session, records)
    rows = [
        (reply.inbound_id, a.source_addr, a.fingerprint, a.link, a.received_at)
        for reply, a in zip(replies, (takes[j][1] for j in plain), strict=True)
    ]
    ids = insert_returning_ids(session, InboundDelivery, _DELIVERY_COLUMNS, rows)
    for j, did, reply in zip(plain, ids, replies, strict=True):
        results[j] = ReplyTaken(did, reply)
    return results


_DELIVERY_COLUMNS = ("inbound_id", "source_addr", "fingerprint", "link", "received_at")


def _earlier_many(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list]:
    if not keys:
        return {}
    d = InboundDelivery
    rows = session.execute(
        sa.select(
            d.source_addr, d.fingerprint, d.id, d.inbound_id, d.link, d.received_at, d.acked_at
        ).where(
            _one_of(session, d.source_addr, sorted({k[0] for k in keys})),
            _one_of(session, d.fingerprint, sorted({k[1] for k in keys})),
        )
    ).all()
    wanted = set(keys)
    found: dict[tuple[str, str], list] = {}
    for source, fp, *rest in rows:
        if (source, fp) in wanted:
            found.setdefault((source, fp), []).append(Delivery(*rest))
    return found


def assemble(session: Session, key: Key, coding: str) -> InboundSms | None:
    """See :meth:`gateway.smpp.store.SmsStore.assemble_held`; the caller locked the key."""
    group = held_group(session, key)
    if not group:
        return None
    complete = len({p.number for p in group}) >= key[2]
    return _store(session, record_from_parts(group, not complete, coding))


def settle_unsure(session: Session, inbound_id: int) -> Settled | None:
    """See :meth:`gateway.smpp.store.SmsStore.settle_unsure`."""
    m, d = InboundMessage, InboundDelivery
    row = session.scalars(
        sa.select(m).where(m.id == inbound_id, m.match_status == UNSURE).with_for_update()
    ).first()
    if row is None:
        return None
    mine = session.scalars(sa.select(d).where(d.inbound_id == inbound_id).order_by(d.id)).first()
    if mine is not None:
        earlier = [
            e for e in _earlier_by(session, mine.source_addr, mine.fingerprint) if e.id < mine.id
        ]
        me = Delivery(mine.id, mine.inbound_id, mine.link, mine.received_at, mine.acked_at)
        first = settle(me, earlier)
        if first is not None:
            mine.inbound_id = first.inbound_id  # its resp, once proven, proves the first
            session.delete(row)
            return Settled(None, first.inbound_id, row.source_addr)
    row.match_status = "new"
    sms = InboundSms(
        row.id, row.source_addr, row.destination_addr, row.text, row.incomplete, row.received_at
    )
    return Settled(sms)


def unsure_replies(session: Session) -> list[tuple[int, datetime]]:
    m = InboundMessage
    rows = session.execute(sa.select(m.id, m.received_at).where(m.match_status == UNSURE))
    return [tuple(r) for r in rows]


def mark_acked(session: Session, ids: Sequence[int], at: datetime) -> None:
    # Core, not the ORM: an ORM UPDATE fetches every changed id back (RETURNING) to
    # synchronise a session that holds none of these rows (3x the CPU for 3,000 ids)
    d = InboundDelivery.__table__
    session.execute(
        sa.update(d)
        .where(_one_of(session, d.c.id, sorted(set(ids))), d.c.acked_at.is_(None))
        .values(acked_at=at)
    )


def prune(session: Session, arrivals: Sequence[Arrival]) -> None:
    """Deliveries older than every window in use can tell nothing any more."""
    windows = [a for a in arrivals if a.window > 0]
    if not windows:
        return
    cutoff = min(a.received_at - timedelta(seconds=a.window) for a in windows)
    session.execute(sa.delete(InboundDelivery).where(InboundDelivery.received_at < cutoff))


def held_group(session: Session, key: Key) -> list[InboundPart]:
    """The parts of one long reply held by every process."""
    rows = session.execute(
        sa.select(InboundMessage.id, InboundMessage.raw_hex, InboundMessage.received_at).where(
            InboundMessage.source_addr == key[0], InboundMessage.match_status == HELD
        )
    ).all()
    parts = [part_from_raw(bytes.fromhex(raw), at, rid) for rid, raw, at in rows]
    return [p for p in parts if p is not None and key_of(p) == key]


def _earlier(session: Session, arrival: Arrival) -> list[Delivery]:
    return _earlier_by(session, arrival.source_addr, arrival.fingerprint)


def _earlier_by(session: Session, source_addr: str, fingerprint: str) -> list[Delivery]:
    d = InboundDelivery
    rows = session.execute(
        sa.select(d.id, d.inbound_id, d.link, d.received_at, d.acked_at).where(
            d.source_addr == source_addr, d.fingerprint == fingerprint
        )
    ).all()
    return [Delivery(*row) for row in rows]


def _delivered(session: Session, arrival: Arrival, inbound_id: int) -> int:
    row = InboundDelivery(
        inbound_id=inbound_id,
        source_addr=arrival.source_addr,
        fingerprint=arrival.fingerprint,
        link=arrival.link,
        received_at=arrival.received_at,
    )
    session.add(row)
    session.flush()
    return row.id


def _store(session: Session, record: InboundRecord, status: str = "new") -> InboundSms:
    return insert_replies(session, [record], status)[0]


_INBOUND_COLUMNS = (
    "source_addr",
    "destination_addr",
    "data_coding",
    "esm_class",
    "raw_hex",
    "text",
    "parts_total",
    "incomplete",
    "received_at",
    "match_status",
)


def insert_replies(
    session: Session, records: Sequence[InboundRecord], status: str = "new"
) -> list[InboundSms]:
    """Store replies, one row each, in one statement however many (replies arrive by the
    thousand a second); each replaces the held parts it was made of, whose deliveries now
    name it."""
    rows = [
        (
            r.source_addr,
            r.destination_addr,
            r.data_coding,
            r.esm_class,
            " ".join(raw.hex() for raw in r.raw),
            r.text,
            r.parts_total,
            r.incomplete,
            r.received_at,
            status,
        )
        for r in records
    ]
    ids = insert_returning_ids(session, InboundMessage, _INBOUND_COLUMNS, rows)
    m, d = InboundMessage, InboundDelivery
    held = [pid for r in records for pid in r.part_ids]
    if held:
        session.execute(sa.delete(m).where(_one_of(session, m.id, held), m.match_status == HELD))
    for row_id, r in zip(ids, records, strict=True):
        if r.part_ids:
            session.execute(
                sa.update(d)
                .where(_one_of(session, d.inbound_id, list(r.part_ids)))
                .values(inbound_id=row_id)
            )
    return [
        InboundSms(row_id, r.source_addr, r.destination_addr, r.text, r.incomplete, r.received_at)
        for row_id, r in zip(ids, records, strict=True)
    ]


def insert_held(
    session: Session, parts: Sequence[InboundPart], coding: str = "gsm0338"
) -> list[int]:
    """Hold parts of long replies until their siblings arrive; their row ids."""
    rows = [
        (
            p.source_addr,
            p.destination_addr,
            p.data_coding,
            p.esm_class,
            p.raw.hex(),
            encoding.decode_text(p.data, p.data_coding, coding),
            p.total,
            True,
            p.received_at,
            HELD,
        )
        for p in parts
    ]
    return insert_returning_ids(session, InboundMessage, _INBOUND_COLUMNS, rows)
