"""What supervisors read about callbacks: one flat record per task, for ``pingjing export
callbacks`` and ``GET /api/v1/callbacks`` alike, so both always show the same thing.

Phones are masked here, at the source: no export path can leak a whole number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.callbacks.export import FIELDS, ExportQueryError
from gateway.callbacks.policy import reason_name
from gateway.masking import mask_phone
from storage.models import (
    CALLBACK_STATUSES,
    CallAttempt,
    CallbackTask,
    Recording,
    ServiceEvent,
    Survey,
    Unit,
)
from storage.units import subtree_ids

_BATCH = 500


def unit_scope(session: Session, unit_code: str | None) -> list[int] | None:
    """Ids of a unit and its subtree (``None``: every unit); an unknown code is an error."""
    if not unit_code:
        return None
    ids = subtree_ids(session, unit_code)
    if not ids:
        raise ExportQueryError(f"unit {unit_code!r} does not exist")
    return ids


def callback_rows(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    unit_ids: Collection[int] | None = None,
    status: str | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of the tasks created in ``[start, end)``, in id order, with ``recording_id``
    (the API links the audio by it) besides the export fields."""
    if status is not None and status not in CALLBACK_STATUSES:
        raise ExportQueryError(f"status={status!r} is not one of {', '.join(CALLBACK_STATUSES)}")
    query = (
        sa.select(CallbackTask, ServiceEvent.event_id, Unit.code)
        .join(Survey, Survey.id == CallbackTask.survey_id)
        .join(ServiceEvent, ServiceEvent.id == Survey.event_id)
        .join(Unit, Unit.id == CallbackTask.unit_id)
        .where(CallbackTask.id > after_id)
        .order_by(CallbackTask.id)
    )
    if start is not None:
        query = query.where(CallbackTask.created_at >= start)
    if end is not None:
        query = query.where(CallbackTask.created_at < end)
    if unit_ids is not None:
        query = query.where(CallbackTask.unit_id.in_(list(unit_ids)))
    if status is not None:
        query = query.where(CallbackTask.status == status)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query.execution_options(yield_per=_BATCH))
    for batch in rows.partitions():
        recordings = _recordings(session, [task.id for task, _, _ in batch])
        for task, event_id, unit_code in batch:
            rec = recordings.get(task.id)
            yield {
                "callback_id": task.id,
                "event_id": event_id,
                "unit_code": unit_code,
                "phone": mask_phone(task.phone),
                "status": task.status,
                "attempts": task.attempts,
                "reason_key": task.reason_key,
                "reason": reason_name(task.reason_key),
                "recording_id": rec.id if rec else None,
                "recording_path": rec.path if rec else None,
                "recording_seconds": rec.duration_seconds if rec else None,
                "consent": task.consent,
                # A datetime: each output renders it in the service's time zone.
                "completed_at": task.completed_at,
            }


def _recordings(session: Session, task_ids: list[int]) -> dict[int, Recording]:
    """The latest attempt's recording per task (a later call supersedes a partial one)."""
    if not task_ids:
        return {}
    found = session.execute(
        sa.select(CallAttempt.callback_id, Recording)
        .join(Recording, Recording.call_attempt_id == CallAttempt.id)
        .where(CallAttempt.callback_id.in_(task_ids))
        .order_by(CallAttempt.callback_id, CallAttempt.attempt_number)
    ).all()
    return {task_id: rec for task_id, rec in found}


def callback_records(
    session: Session,
    start: datetime | None = None,
    end: datetime | None = None,
    unit: str | None = None,
    status: str | None = None,
) -> Iterator[dict[str, Any]]:
    """``pingjing export callbacks``: one dict per task with exactly :data:`FIELDS`.

    ``unit`` is a unit code and takes the units below it too; ``start``/``end`` bound the
    task's creation (the reply), ``end`` exclusive. Raises :class:`ExportQueryError` naming a
    bad filter before anything is printed.
    """
    unit_ids = unit_scope(session, unit)
    for row in callback_rows(session, start=start, end=end, unit_ids=unit_ids, status=status):
        yield {key: row[key] for key in FIELDS}
