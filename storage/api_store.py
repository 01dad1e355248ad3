"""The SQL behind the HTTP API (:class:`gateway.http.store.ApiStore`): one transaction each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.internet import defer

from gateway.callbacks.export import ExportQueryError
from gateway.http.store import (
    AuditRecord,
    CallbackQuery,
    RecordingTarget,
    UnitIds,
    UnknownFilterError,
)
from storage.callback_export import callback_rows
from storage.models import AuditEntry, CallAttempt, CallbackTask, Recording, Unit
from storage.units import subtree_ids


class SqlApiStore:
    def __init__(self, db: Any) -> None:  # storage.db.Database or any object with run()
        self._db = db

    def subtrees(self, codes: Sequence[str]) -> defer.Deferred[dict[str, UnitIds]]:
        return self._db.run(_subtrees, list(codes))

    def callbacks(self, query: CallbackQuery) -> defer.Deferred[list[dict[str, Any]]]:
        return self._db.run(_callbacks, query)

    def recording(self, recording_id: int) -> defer.Deferred[RecordingTarget | None]:
        return self._db.run(_recording, recording_id)

    def audit(self, record: AuditRecord) -> defer.Deferred[None]:
        return self._db.run(_audit, record)


def _subtrees(session: Session, codes: list[str]) -> dict[str, UnitIds]:
    return {code: frozenset(subtree_ids(session, code)) for code in codes}


def _callbacks(session: Session, query: CallbackQuery) -> list[dict[str, Any]]:
    try:
        return list(
            callback_rows(
                session,
                start=query.start,
                end=query.end,
                unit_ids=query.unit_ids,
                status=query.status,
                after_id=query.after,
                limit=query.limit,
            )
        )
    except ExportQueryError as exc:
        raise UnknownFilterError(str(exc)) from None


def _recording(session: Session, recording_id: int) -> RecordingTarget | None:
    row = session.execute(
        sa.select(Recording.path, CallbackTask.id, Unit.id, Unit.code)
        .join(CallAttempt, CallAttempt.id == Recording.call_attempt_id)
        .join(CallbackTask, CallbackTask.id == CallAttempt.callback_id)
        .join(Unit, Unit.id == CallbackTask.unit_id)
        .where(Recording.id == recording_id)
    ).one_or_none()
    if row is None:
        return None
    path, callback_id, unit_id, unit_code = row
    return RecordingTarget(recording_id, path, callback_id, unit_id, unit_code)


def _audit(session: Session, record: AuditRecord) -> None:
    session.add(
        AuditEntry(
            actor=record.actor[:64],
            action=record.action[:32],
            object_type=record.object_type[:32],
            object_id=None if record.object_id is None else record.object_id[:64],
            detail=dict(record.detail),
        )
    )
