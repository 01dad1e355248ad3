"""The case lifecycle: one pure function from (case, event) to (case, outputs).

::

    open ──StartVerify──▶ verifying ──Substantiate──▶ substantiated ──Rectify──▶ rectifying
                               │                                                  │    ▲
                               └─Unsubstantiate──▶ unsubstantiated (final)   Submit    Return (退回)
                                                                                  ▼    │
                                                               closed ◀──Accept── under_review

Every accepted event yields a :class:`Transition` (who, when, why, from which state, to which)
for the timeline; a refused one yields ``refused`` with the reason and the case unchanged.
Two people acting on one case at once: each event carries the version the actor saw; a stale
version is refused as a conflict (the store turns it into a clear error), so nothing is
overwritten. Deadlines are set here from the working-day calendar (``deadlines``).

No SQL, no Twisted: ``storage/case_store.py`` loads the record, calls :func:`advance` and
writes what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway.cases import states as cs

#: ``(start, working_days) -> due datetime``: the calendar, injected.
DueAfter = Callable[[datetime, int], datetime]


@dataclass(frozen=True)
class Deadlines:
    due_after: DueAfter
    verify_days: int = 3
    rectify_days: int = 5
    review_days: int = 3


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: int
    state: str
    unit_code: str  # the handling unit (assigned by vertical management)
    event_unit_code: str  # the unit the service event belongs to
    opened_at: datetime
    due_at: datetime | None = None
    version: int = 1
    officers: tuple[str, ...] = ()  # police numbers of the responsible officers
    finding: str | None = None
    unsubstantiated_reason: str | None = None
    substantiated_at: datetime | None = None
    measures: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # evidence file ids (sha256)
    returns: int = 0  # times returned for rework (退回)
    closed_at: datetime | None = None
    consent: bool | None = None  # the citizen agreed to hear the outcome
    phone: str | None = None


# --- events: each says who acted, when, and which version of the case they saw ---------------


@dataclass(frozen=True, slots=True)
class _Event:
    actor: str
    at: datetime
    version: int | None  # None: the system acting (no concurrent editor to protect)


@dataclass(frozen=True, slots=True)
class Assign(_Event):
    unit_code: str
    reason: str
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StartVerify(_Event):
    pass


@dataclass(frozen=True, slots=True)
class Substantiate(_Event):
    officers: tuple[str, ...]
    finding: str


@dataclass(frozen=True, slots=True)
class Unsubstantiate(_Event):
    reason: str


@dataclass(frozen=True, slots=True)
class EditOfficers(_Event):
    officers: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Rectify(_Event):
    """Measures taken (text) and/or evidence files attached (their ids)."""

    measure: str | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Submit(_Event):
    note: str = ""


@dataclass(frozen=True, slots=True)
class Accept(_Event):
    note: str = ""


@dataclass(frozen=True, slots=True)
class Return(_Event):
    reason: str


@dataclass(frozen=True, slots=True)
class Note(_Event):
    text: str


@dataclass(frozen=True, slots=True)
class CallbackAttached(_Event):
    """The callback's result reached the case (the system, not a person)."""

    consent: bool | None
    reason_key: str | None = None


Event = (
    Assign
    | StartVerify
    | Substantiate
    | Unsubstantiate
    | EditOfficers
    | Rectify
    | Submit
    | Accept
    | Return
    | Note
    | CallbackAttached
)

#: event type -> the action (``gateway.cases.states``) a person needs to send it.
ACTION_OF: dict[type, str] = {
    Assign: cs.ASSIGN,
    StartVerify: cs.START_VERIFY,
    Substantiate: cs.FIND,
    Unsubstantiate: cs.FIND,
    EditOfficers: cs.EDIT_OFFICERS,
    Rectify: cs.RECTIFY,
    Submit: cs.SUBMIT,
    Accept: cs.REVIEW,
    Return: cs.REVIEW,
    Note: cs.NOTE,
}

# --- outputs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """One line of the timeline."""

    case_id: int
    at: datetime
    actor: str
    action: str  # the event's name: assign, start_verify, substantiate, ...
    from_state: str
    to_state: str
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutcomeSmsDue:
    """The case ended (closed, or found unsubstantiated) and the citizen consented to hear."""

    case_id: int
    phone: str
    substantiated: bool


Output = Transition | OutcomeSmsDue


@dataclass(frozen=True, slots=True)
class Step:
    record: CaseRecord
    outputs: tuple[Output, ...] = ()
    refused: str | None = None
    conflict: bool = False


def _name(event: Event) -> str:
    out = []
    for i, ch in enumerate(type(event).__name__):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def advance(record: CaseRecord, event: Event, deadlines: Deadlines) -> Step:
    """The case after ``event``, and what it asks to be done; or refused, unchanged."""
    if event.version is not None and event.version != record.version:
        return Step(
            record,
            refused=(
                f"case {record.id} changed since you read it (version {event.version}, now "
                f"{record.version}); reload it and try again"
            ),
            conflict=True,
        )
    action = ACTION_OF.get(type(event))
    if action is not None and action not in cs.ACTIONS_IN_STATE[record.state]:
        return Step(record, refused=_forbidden(record, event))
    problem = _invalid(record, event)
    if problem:
        return Step(record, refused=problem)
    new, reason, detail = _apply(record, event, deadlines)
    if new == record and isinstance(event, CallbackAttached):
        return Step(record)
    new = replace(new, version=record.version + 1)
    transition = Transition(
        record.id, event.at, event.actor, _name(event), record.state, new.state, reason, detail
    )
    outputs: tuple[Output, ...] = (transition,)
    if new.state in cs.FINAL and record.state not in cs.FINAL and new.consent and new.phone:
        outputs += (OutcomeSmsDue(record.id, new.phone, new.state == cs.CLOSED),)
    return Step(new, outputs)


def _forbidden(record: CaseRecord, event: Event) -> str:
    possible = sorted(cs.ACTIONS_IN_STATE[record.state])
    return (
        f"case {record.id} is {record.state}: {_name(event)} is not possible now "
        f"(possible: {', '.join(possible) or 'nothing'})"
    )


def _invalid(record: CaseRecord, event: Event) -> str | None:
    match event:
        case Substantiate(officers=officers, finding=finding):
            if not officers:
                return "a substantiated case names at least one responsible officer"
            if not finding.strip():
                return "a substantiated case needs the finding (查实情况)"
        case EditOfficers(officers=officers, reason=reason):
            if not officers:
                return "a substantiated case names at least one responsible officer"
            if not reason.strip():
                return "say why the officers change"
        case Unsubstantiate(reason=reason) | Return(reason=reason):
            if not reason.strip():
                return f"{_name(event)} needs a reason"
        case Assign(unit_code=unit, reason=reason):
            if not unit:
                return "assign to which unit?"
            if not reason.strip():
                return "say why the case is reassigned"
        case Rectify(measure=measure, evidence=evidence):
            if not (measure and measure.strip()) and not evidence:
                return "record a measure taken or attach evidence"
        case Submit():
            if not record.measures:
                return "record the measures taken before submitting for review"
        case Note(text=text):
            if not text.strip():
                return "the note is empty"
    return None


def _apply(
    record: CaseRecord, event: Event, d: Deadlines
) -> tuple[CaseRecord, str | None, dict[str, Any]]:
    at = event.at
    match event:
        case Assign(unit_code=unit, reason=reason, due_at=due_at):
            detail = {"from_unit": record.unit_code, "to_unit": unit}
            new = replace(record, unit_code=unit, due_at=due_at or record.due_at)
            return new, reason, detail
        case StartVerify():
            return replace(record, state=cs.VERIFYING), None, {}
        case Substantiate(officers=officers, finding=finding):
            new = replace(
                record,
                state=cs.SUBSTANTIATED,
                officers=tuple(dict.fromkeys(officers)),
                finding=finding.strip(),
                substantiated_at=at,
                due_at=d.due_after(at, d.rectify_days),
            )
            return new, finding.strip(), {"officers": list(new.officers)}
        case Unsubstantiate(reason=reason):
            new = replace(
                record,
                state=cs.UNSUBSTANTIATED,
                unsubstantiated_reason=reason.strip(),
                closed_at=at,
                due_at=None,
            )
            return new, reason.strip(), {}
        case EditOfficers(officers=officers, reason=reason):
            new = replace(record, officers=tuple(dict.fromkeys(officers)))
            return new, reason, {"from": list(record.officers), "to": list(new.officers)}
        case Rectify(measure=measure, evidence=evidence):
            measures = record.measures + ((measure.strip(),) if measure and measure.strip() else ())
            files = record.evidence + tuple(e for e in evidence if e not in record.evidence)
            new = replace(record, state=cs.RECTIFYING, measures=measures, evidence=files)
            return new, None, {"measure": measure, "evidence": list(evidence)}
        case Submit(note=note):
            new = replace(record, state=cs.UNDER_REVIEW, due_at=d.due_after(at, d.review_days))
            return new, note or None, {}
        case Accept(note=note):
            return replace(record, state=cs.CLOSED, closed_at=at, due_at=None), note or None, {}
        case Return(reason=reason):
            new = replace(
                record,
                state=cs.RECTIFYING,
                returns=record.returns + 1,
                due_at=d.due_after(at, d.rectify_days),
            )
            return new, reason.strip(), {"returns": new.returns}
        case Note(text=text):
            return record, text.strip(), {}
        case CallbackAttached(consent=consent, reason_key=key):
            new = replace(record, consent=consent if consent is not None else record.consent)
            return new, None, {"consent": consent, "reason_key": key}
    raise TypeError(f"not a case event: {event!r}")


def opened(
    case_id: int,
    *,
    unit_code: str,
    event_unit_code: str,
    at: datetime,
    deadlines: Deadlines,
    actor: str,
    origin: str,
    officers: tuple[str, ...] = (),
    phone: str | None = None,
    consent: bool | None = None,
) -> Step:
    """A new case and its first timeline line (``origin``: what opened it)."""
    record = CaseRecord(
        id=case_id,
        state=cs.OPEN,
        unit_code=unit_code,
        event_unit_code=event_unit_code,
        opened_at=at,
        due_at=deadlines.due_after(at, deadlines.verify_days),
        officers=officers,
        phone=phone,
        consent=consent,
    )
    transition = Transition(
        case_id, at, actor, "open", "", cs.OPEN, origin, {"unit": unit_code, "origin": origin}
    )
    return Step(record, (transition,))


def is_overdue(record: CaseRecord, now: datetime) -> bool:
    return record.state not in cs.FINAL and record.due_at is not None and record.due_at <= now
