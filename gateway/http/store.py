"""What the API reads and writes, as an interface, and an in-memory version for tests.

The resources never write SQL: they ask an :class:`ApiStore` (``storage/api_store.py``
implements it) for plain records and hand it finished audit records. Each method is one
transaction and returns a Deferred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer

#: A set of unit ids, or ``None`` for every unit (the inspectorate).
UnitIds = frozenset[int] | None


@dataclass(frozen=True)
class CallbackQuery:
    """One page of ``GET /api/v1/callbacks``; ``unit_ids`` already narrowed to the scope."""

    unit_ids: UnitIds
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    after: int = 0
    limit: int = 500


@dataclass(frozen=True)
class RecordingTarget:
    """A recording and whose it is."""

    recording_id: int
    path: str
    callback_id: int
    unit_id: int
    unit_code: str


@dataclass(frozen=True)
class AuditRecord:
    """One row of ``audit_log``: who (a token's name or ``anonymous``) did what to which."""

    actor: str
    action: str
    object_type: str
    object_id: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)


class UnknownFilterError(ValueError):
    """A filter names something that does not exist (a status); the message says which."""


class ApiStore(Protocol):
    def subtrees(self, codes: Sequence[str]) -> defer.Deferred[dict[str, UnitIds]]:
        """Each unit code's subtree (the unit and every unit below it); an unknown code maps
        to an empty set."""

    def callbacks(self, query: CallbackQuery) -> defer.Deferred[list[dict[str, Any]]]:
        """Up to ``query.limit`` callback records (the export's fields plus ``recording_id``)
        after ``query.after``, in id order; raises :class:`UnknownFilterError` for a status
        that does not exist."""

    def recording(self, recording_id: int) -> defer.Deferred[RecordingTarget | None]: ...

    def audit(self, record: AuditRecord) -> defer.Deferred[None]: ...


class MemoryApiStore:
    """An :class:`ApiStore` over plain dicts: units as ``code -> (id, parent code)``."""

    def __init__(
        self,
        units: Mapping[str, tuple[int, str | None]] | None = None,
        recordings: Sequence[RecordingTarget] = (),
        callbacks: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.units = dict(units or {})
        self.recordings = {r.recording_id: r for r in recordings}
        self.callback_rows = list(callbacks)
        self.audit_log: list[AuditRecord] = []

    def _subtree(self, code: str) -> frozenset[int]:
        if code not in self.units:
            return frozenset()
        found = {code}
        grew = True
        while grew:
            below = {c for c, (_, parent) in self.units.items() if parent in found}
            grew = not below <= found
            found |= below
        return frozenset(self.units[c][0] for c in found)

    def subtrees(self, codes: Sequence[str]) -> defer.Deferred[dict[str, UnitIds]]:
        return defer.succeed({code: self._subtree(code) for code in codes})

    def callbacks(self, query: CallbackQuery) -> defer.Deferred[list[dict[str, Any]]]:
        rows = [
            row
            for row in self.callback_rows
            if row["callback_id"] > query.after
            and (query.unit_ids is None or row["unit_id"] in query.unit_ids)
            and (query.status is None or row["status"] == query.status)
        ]
        return defer.succeed(rows[: query.limit])

    def recording(self, recording_id: int) -> defer.Deferred[RecordingTarget | None]:
        return defer.succeed(self.recordings.get(recording_id))

    def audit(self, record: AuditRecord) -> defer.Deferred[None]:
        self.audit_log.append(record)
        return defer.succeed(None)
