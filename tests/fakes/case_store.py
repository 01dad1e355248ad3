"""A :class:`gateway.cases.store.CaseStore` in dictionaries, for tests of what sits on top (the
API, the web console) without a database. The same rules as the SQL store: the lifecycle
decides, ``gateway.accounts.permissions`` checks, refusals change nothing. It lives with the
fakes, not in ``gateway/cases``, because it asks the permission module (which reads the case
states table) as the SQL store does: from ``gateway/cases`` that would be an import cycle."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from twisted.internet import defer

from gateway.accounts import permissions as perm
from gateway.cases import lifecycle as lc
from gateway.cases import states as cs
from gateway.cases.opening import CaseOpening, deadlines, plan
from gateway.cases.settings import CaseSettings
from gateway.cases.store import (
    CaseConflict,
    CaseForbidden,
    CaseNotFound,
    CaseQuery,
    CaseRefused,
    EvidenceFile,
)


class MemoryCaseStore:
    """Units as ``code -> (parent code, kind)``."""

    def __init__(
        self, units: Mapping[str, tuple[str | None, str]], settings: CaseSettings | None = None
    ) -> None:
        self.units = dict(units)
        self.tree = perm.MappingUnitTree({c: p for c, (p, _) in self.units.items()})
        self.settings = settings or CaseSettings()
        self.records: dict[int, lc.CaseRecord] = {}
        self.timelines: dict[int, list[lc.Transition]] = {}
        self.evidence_files: dict[int, EvidenceFile] = {}
        self.extra: dict[int, dict[str, Any]] = {}
        self.audit: list[tuple[str, str, int]] = []
        self._ids = itertools.count(1)

    # -- helpers --------------------------------------------------------------------------

    def _readable(self, person: Any, case_id: int) -> lc.CaseRecord:
        record = self.records.get(case_id)
        if record is None:
            raise CaseNotFound(f"no case {case_id}")
        decision = perm.check(person, perm.CASE_READ, record.unit_code, self.tree)
        if not decision:
            raise CaseForbidden(decision.reason)
        return record

    def _detail(self, person: Any, record: lc.CaseRecord, now: datetime) -> dict[str, Any]:
        return {
            "id": record.id,
            "state": record.state,
            "version": record.version,
            "unit": record.unit_code,
            "event_unit": record.event_unit_code,
            "opened_at": record.opened_at,
            "due_at": record.due_at,
            "overdue": lc.is_overdue(record, now),
            "closed_at": record.closed_at,
            "officers": [{"police_number": n, "name": None} for n in record.officers],
            "finding": record.finding,
            "unsubstantiated_reason": record.unsubstantiated_reason,
            "measures": list(record.measures),
            "returns": record.returns,
            "consent": record.consent,
            "evidence": [
                {"id": e.evidence_id, "filename": e.filename, "sha256": e.sha256}
                for e in self.evidence_files.values()
                if e.case_id == record.id
            ],
            "timeline": [
                {
                    "at": t.at,
                    "actor": t.actor,
                    "action": t.action,
                    "from": t.from_state or None,
                    "to": t.to_state,
                    "reason": t.reason,
                    "detail": dict(t.detail),
                }
                for t in self.timelines[record.id]
            ],
            "allowed_actions": sorted(perm.allowed_actions(person, record, self.tree)),
            **self.extra.get(record.id, {}),
        }

    # -- the CaseStore contract -----------------------------------------------------------

    def unit_tree(self) -> defer.Deferred[Any]:
        return defer.succeed(self.tree)

    def may(self, person: Any, case_id: int, action: str) -> defer.Deferred[None]:
        try:
            record = self._readable(person, case_id)
        except Exception as exc:
            return defer.fail(exc)
        decision = perm.check(person, action, record.unit_code, self.tree)
        return defer.succeed(None) if decision else defer.fail(CaseForbidden(decision.reason))

    def cases(self, query: CaseQuery) -> defer.Deferred[list[dict[str, Any]]]:
        now = query.now or datetime.now().astimezone()
        rows = []
        for record in sorted(self.records.values(), key=lambda r: -r.id):
            if query.after and record.id >= query.after:
                continue
            if any(
                code and not perm.within(record.unit_code, code, self.tree)
                for code in (query.scope, query.unit)
            ):
                continue
            if query.states and record.state not in query.states:
                continue
            overdue = lc.is_overdue(record, now)
            if query.overdue is not None and overdue != query.overdue:
                continue
            if query.start is not None and record.opened_at < query.start:
                continue
            if query.end is not None and record.opened_at >= query.end:
                continue
            rows.append(
                {
                    "id": record.id,
                    "state": record.state,
                    "unit": record.unit_code,
                    "event_unit": record.event_unit_code,
                    "opened_at": record.opened_at,
                    "due_at": record.due_at,
                    "overdue": overdue,
                    "returns": record.returns,
                    "version": record.version,
                }
            )
        return defer.succeed(rows[: query.limit])

    def case(self, person: Any, case_id: int, now: datetime) -> defer.Deferred[dict[str, Any]]:
        try:
            return defer.succeed(self._detail(person, self._readable(person, case_id), now))
        except Exception as exc:
            return defer.fail(exc)

    def act(self, person: Any, case_id: int, event: lc.Event) -> defer.Deferred[dict[str, Any]]:
        try:
            return defer.succeed(self._act(person, case_id, event))
        except Exception as exc:
            return defer.fail(exc)

    def _act(self, person: Any, case_id: int, event: lc.Event) -> dict[str, Any]:
        record = self.records.get(case_id)
        if record is None:
            raise CaseNotFound(f"no case {case_id}")
        action = lc.ACTION_OF.get(type(event))
        if action is None:
            raise CaseForbidden(f"{type(event).__name__} is the system's, not a person's")
        decision = perm.check(person, action, record.unit_code, self.tree)
        if not decision:
            raise CaseForbidden(decision.reason)
        if isinstance(event, lc.Assign):
            if event.unit_code not in self.units:
                raise CaseRefused(f"unit {event.unit_code!r} is not in the registry")
            decision = perm.check(person, cs.ASSIGN, event.unit_code, self.tree)
            if not decision:
                raise CaseForbidden(decision.reason)
        step = lc.advance(record, event, deadlines(self.settings))
        if step.conflict:
            raise CaseConflict(step.refused)
        if step.refused:
            raise CaseRefused(step.refused)
        self.records[case_id] = step.record
        self.timelines[case_id].extend(o for o in step.outputs if isinstance(o, lc.Transition))
        for out in step.outputs:
            if isinstance(out, lc.OutcomeSmsDue):
                self.extra.setdefault(case_id, {})["outcome_sms"] = out
        return self._detail(person, step.record, event.at)

    def add_evidence(
        self, person: Any, case_id: int, version: int | None, meta: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]:
        try:
            self._readable(person, case_id)
            event = lc.Rectify(person.name, meta["at"], version, None, (meta["sha256"],))
            detail = self._act(person, case_id, event)
        except Exception as exc:
            return defer.fail(exc)
        evidence_id = next(self._ids)
        self.evidence_files[evidence_id] = EvidenceFile(
            case_id,
            evidence_id,
            meta["sha256"],
            meta["filename"],
            meta["content_type"],
            meta["size_bytes"],
            self.records[case_id].unit_code,
        )
        detail["evidence"] = self._detail(person, self.records[case_id], meta["at"])["evidence"]
        return defer.succeed(detail)

    def evidence(self, person: Any, case_id: int, evidence_id: int) -> defer.Deferred[Any]:
        try:
            record = self._readable(person, case_id)
        except Exception as exc:
            return defer.fail(exc)
        decision = perm.check(person, perm.EVIDENCE_READ, record.unit_code, self.tree)
        if not decision:
            return defer.fail(CaseForbidden(decision.reason))
        found = self.evidence_files.get(evidence_id)
        if found is None or found.case_id != case_id:
            return defer.fail(CaseNotFound(f"case {case_id} has no evidence {evidence_id}"))
        self.audit.append((person.name, "evidence_download", evidence_id))
        return defer.succeed(found)

    def open_complaint(self, person: Any, opening: CaseOpening) -> defer.Deferred[Any]:
        if opening.event_unit_code not in self.units:
            return defer.fail(CaseRefused(f"unit {opening.event_unit_code!r} is not known"))
        decision = perm.check(person, perm.CASE_OPEN, opening.event_unit_code, self.tree)
        if not decision:
            return defer.fail(CaseForbidden(decision.reason))
        return defer.succeed(self._detail(person, self.record(opening), opening.at))

    def record(self, opening: CaseOpening) -> lc.CaseRecord:
        """Open a case directly (what the survey store does with an unsatisfied rating)."""
        step = plan(opening, self.units, self.settings, deadlines(self.settings))
        case_id = next(self._ids)
        record = replace(step.record, id=case_id)
        self.records[case_id] = record
        self.timelines[case_id] = [
            replace(t, case_id=case_id) for t in step.outputs if isinstance(t, lc.Transition)
        ]
        return record
