"""What the case API and commands need stored, as an interface.

``storage/case_store.py`` implements it; each method is one transaction and returns a
Deferred. Permission checks happen inside the transaction, against the case as it is read
(``gateway.accounts.permissions``), so a case reassigned meanwhile is judged by its new unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer

from gateway.cases import lifecycle as lc


class CaseError(Exception):
    """A request about a case that cannot be done; ``status`` is the HTTP status it maps to."""

    status = 400


class CaseNotFound(CaseError):  # noqa: N818 (reads as the answer it maps to)
    status = 404


class CaseForbidden(CaseError):  # noqa: N818
    status = 403


class CaseRefused(CaseError):  # noqa: N818
    """The lifecycle refused the event (wrong state, missing reason); nothing changed."""

    status = 409


class CaseConflict(CaseError):  # noqa: N818
    """Someone else changed the case since the actor read it; nothing changed."""

    status = 409


@dataclass(frozen=True)
class CaseQuery:
    """One page of an inbox; ``scope`` is a unit code whose subtree is searched (``None``:
    every unit), already narrowed to what the asker may see."""

    scope: str | None = None
    unit: str | None = None  # only this unit's subtree (within the scope)
    states: Sequence[str] = ()
    overdue: bool | None = None
    start: datetime | None = None  # opened at or after
    end: datetime | None = None  # opened before
    after: int = 0  # keyset: ids below this when newest first (0: from the newest)
    limit: int = 50
    now: datetime | None = None


@dataclass(frozen=True)
class EvidenceFile:
    case_id: int
    evidence_id: int
    sha256: str
    filename: str
    content_type: str
    size_bytes: int
    unit_code: str


class CaseStore(Protocol):
    def unit_tree(self) -> defer.Deferred[Any]:
        """The unit tree (``gateway.accounts.permissions.UnitTree``, with ``in``)."""

    def may(self, person: Any, case_id: int, action: str) -> defer.Deferred[None]:
        """Succeeds when ``person`` may take ``action`` on the case now; else raises as
        :meth:`act` would (checked before an upload is read and stored)."""

    def cases(self, query: CaseQuery) -> defer.Deferred[list[dict[str, Any]]]: ...

    def case(self, person: Any, case_id: int, now: datetime) -> defer.Deferred[dict[str, Any]]:
        """The case with its timeline, evidence, callback and the actions ``person`` may take;
        raises :class:`CaseNotFound` / :class:`CaseForbidden`."""

    def act(self, person: Any, case_id: int, event: lc.Event) -> defer.Deferred[dict[str, Any]]:
        """Apply ``event`` for ``person``; raises :class:`CaseForbidden`,
        :class:`CaseRefused` or :class:`CaseConflict` and changes nothing then."""

    def add_evidence(
        self, person: Any, case_id: int, version: int | None, meta: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]: ...

    def evidence(
        self, person: Any, case_id: int, evidence_id: int
    ) -> defer.Deferred[EvidenceFile]: ...

    def open_complaint(self, person: Any, opening: Any) -> defer.Deferred[dict[str, Any]]: ...
