"""Submit outcomes written again: the first fact on each (outbound id, part, attempt) wins.

``sms_parts`` holds one row per (outbound_id, part_number, attempt). The SMPP service never
hands the store two facts for one key, but a write can still arrive twice: its outcome retried
after a commit whose answer was lost with the connection, or a fault this module exists to
contain. A repeated write must neither fail for good nor loop: the store writes the batch as
usual (COPY on PostgreSQL, no per-row check on the hot path); when that fails it writes each
outcome alone, and then through :func:`unrecorded`, which drops the parts already stored. An
outcome whose every part is already stored was recorded before: nothing of it is written
again, not even its message status, which receipts may have moved on since.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.logger import Logger

from gateway.smpp.api import SubmitOutcome
from gateway.smpp.store import PartResult
from storage.models import SmsPart
from storage.sql import one_of

log = Logger(namespace="pingjing.storage.sms")

Write = tuple[SubmitOutcome, tuple[PartResult, ...]]


def unrecorded(session: Session, writes: Sequence[Write]) -> list[Write | None]:
    """Each write with only its parts not stored yet (nor earlier in ``writes``), or None
    when it names parts and all of them are stored: it was recorded before."""
    oids = sorted({p.outbound_id for _, parts in writes for p in parts})
    stored: set[tuple[int, int, int]] = set()
    if oids:
        stored = {
            (oid, number, attempt)
            for oid, number, attempt in session.execute(
                sa.select(SmsPart.outbound_id, SmsPart.part_number, SmsPart.attempt).where(
                    one_of(session, SmsPart.outbound_id, oids)
                )
            )
        }
    kept: list[Write | None] = []
    for outcome, parts in writes:
        fresh = []
        for p in parts:
            key = (p.outbound_id, p.part_number, p.attempt)
            if key not in stored:
                stored.add(key)
                fresh.append(p)
        if len(fresh) < len(parts):
            log.warn(
                "outcome of outbound {oid}: {n} of its {m} part records were already stored; "
                "the stored ones are kept",
                oid=outcome.outbound_id,
                n=len(parts) - len(fresh),
                m=len(parts),
            )
        kept.append(None if parts and not fresh else (outcome, tuple(fresh)))
    return kept
