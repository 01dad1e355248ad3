"""Survey rows as lifecycle records: read (locked, in id order) and written back changed-only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.surveys.lifecycle import SurveyRecord
from storage import models as m
from storage.sql import is_postgresql, one_of, update_by_id

FIELDS = SurveyRecord._fields
# the table's columns, not the ORM attributes: a select of these skips the ORM's row loading
# (10-20 % of a 500-row read), and these reads are on every batch's path
COLUMNS = tuple(m.Survey.__table__.c[name] for name in FIELDS)


def record_of(row: Any) -> SurveyRecord:
    return SurveyRecord(*row)


def locked(query: Any, session: Session) -> Any:
    """On PostgreSQL, lock the surveys a query reads: every batch that changes surveys
    (outcomes, receipts, replies, expiry) locks them in id order, so that concurrent batches
    wait for each other instead of deadlocking, and each reads what the other committed."""
    if is_postgresql(session):
        return query.with_for_update(of=m.Survey.__table__)
    return query


def load_records(session: Session, ids: Iterable[int]) -> dict[int, SurveyRecord]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    sid = COLUMNS[0]
    query = sa.select(*COLUMNS).where(one_of(session, sid, wanted)).order_by(sid)
    return {row[0]: record_of(row) for row in session.execute(locked(query, session))}


def write_records(
    session: Session,
    before: dict[int, SurveyRecord],
    after: dict[int, SurveyRecord],
    now: datetime,
) -> int:
    """Write the fields that changed, one statement per set of changed columns (a field this
    batch did not change is not written, so a concurrent batch's change to it survives).
    Returns how many surveys changed."""
    by_fields: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for sid in sorted(after):
        new, old = after[sid], before[sid]
        if new == old:
            continue
        changed = [
            (n, value) for n, value, was in zip(FIELDS, new, old, strict=True) if value != was
        ]
        names = tuple(n for n, _ in changed)
        row: dict[str, object] = {"id": sid, **dict(changed)}
        row["updated_at"] = now
        by_fields.setdefault(names, []).append(row)
    for rows in by_fields.values():
        update_by_id(session, m.Survey, rows)
    return sum(len(rows) for rows in by_fields.values())
