"""The one answer to "may this person do action X on a thing of unit U".

Two questions, both asked here and nowhere else (the API, the CLI and the web console call
:func:`check` / :func:`allowed_actions`):

1. *Role*: does the role allow the action at all (:data:`ROLE_ACTIONS`)?
2. *Scope*: is the unit within the person's unit subtree? A person of the city bureau (the
   root of the unit tree) and a token without a unit see every unit.

For a case, :func:`allowed_actions` also asks the case's state (``gateway.cases.states``), so
what is offered is exactly what the lifecycle will accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.accounts.model import MACHINE, Role
from gateway.cases import states as cs

# Actions that are not transitions of a case.
CASE_READ = "case.read"
CASE_OPEN = "case.open"  # record a complaint by hand
EVIDENCE_READ = "evidence.read"  # download an evidence file (audited)
LADDER_READ = "ladder.read"
LADDER_DECIDE = "ladder.decide"
MANUAL_CALLBACK_READ = "callback.manual.read"
MANUAL_CALLBACK_RECORD = "callback.manual.record"
CALLBACKS_READ = "callbacks.read"
EVENTS_SUBMIT = "events.submit"
REPORT_READ = "report.read"
#: per-officer figures (the personnel department's 政工 reference; not every reader's)
REPORT_OFFICERS = "report.officers"
USER_MANAGE = "user.manage"

_READ = frozenset({CASE_READ, EVIDENCE_READ, CALLBACKS_READ, REPORT_READ})

ROLE_ACTIONS: Mapping[str, frozenset[str]] = {
    Role.INSPECTOR: _READ
    | {
        CASE_OPEN,
        cs.ASSIGN,
        cs.START_VERIFY,
        cs.FIND,
        cs.EDIT_OFFICERS,
        cs.REVIEW,
        cs.NOTE,
        LADDER_READ,
        LADDER_DECIDE,
        MANUAL_CALLBACK_READ,
        MANUAL_CALLBACK_RECORD,
        USER_MANAGE,
        REPORT_OFFICERS,
    },
    Role.HANDLER: _READ | {cs.RECTIFY, cs.SUBMIT, cs.NOTE},
    Role.LEADER: _READ | {cs.SUBMIT, cs.NOTE, LADDER_READ},
    Role.VIEWER: _READ,
    MACHINE: frozenset({EVENTS_SUBMIT, CALLBACKS_READ, CASE_READ, REPORT_READ}),
}

ALL_ACTIONS = frozenset().union(*ROLE_ACTIONS.values())

#: Actions only a person who sees every unit may take (whatever the thing's unit).
CITY_ONLY = frozenset({USER_MANAGE})


class Person(Protocol):
    """A user (``gateway.accounts.model.User``) or a machine token (``name``, ``unit``)."""

    name: str
    unit: str


class UnitTree(Protocol):
    def parent(self, code: str) -> str | None:
        """The parent's code; ``None`` for the root. Raises ``KeyError`` for an unknown unit."""


class MappingUnitTree:
    """A :class:`UnitTree` over ``code -> parent code`` (``None``/empty for the root)."""

    def __init__(self, parents: Mapping[str, str | None]) -> None:
        self._parents = {code: (parent or None) for code, parent in parents.items()}

    def parent(self, code: str) -> str | None:
        return self._parents[code]

    def __contains__(self, code: object) -> bool:
        return code in self._parents


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


def role_of(person: Person) -> str:
    role = getattr(person, "role", None)
    return str(role) if role else MACHINE


def is_disabled(person: Person) -> bool:
    return bool(getattr(person, "disabled", False))


def sees_all(person: Person, tree: UnitTree) -> bool:
    """A token without a unit, or a person of the root unit (the city bureau)."""
    if not person.unit:
        return True
    try:
        return tree.parent(person.unit) is None
    except KeyError:
        return False


def within(code: str, ancestor: str, tree: UnitTree) -> bool:
    """``code`` is ``ancestor`` or below it (``False`` for unknown units)."""
    seen: set[str] = set()
    cursor: str | None = code
    while cursor is not None and cursor not in seen:
        if cursor == ancestor:
            return True
        seen.add(cursor)
        try:
            cursor = tree.parent(cursor)
        except KeyError:
            return False
    return False


def may(person: Person, action: str) -> Decision:
    """The role part alone: may this person's role take ``action`` anywhere?"""
    if action not in ALL_ACTIONS and action not in cs.CASE_ACTIONS:
        return Decision(False, f"unknown action {action!r}")
    if is_disabled(person):
        return Decision(False, f"user {person.name!r} is disabled")
    role = role_of(person)
    if action not in ROLE_ACTIONS.get(role, frozenset()):
        return Decision(False, f"{person.name!r} ({role}) may not {action}")
    return ALLOWED


def check(person: Person, action: str, unit_code: str | None, tree: UnitTree) -> Decision:
    """May ``person`` take ``action`` on a thing of unit ``unit_code``? (``None``: a thing of
    no unit, such as a user account or a listing over every unit.)"""
    decision = may(person, action)
    if not decision:
        return decision
    if sees_all(person, tree):
        return ALLOWED
    if person.unit not in _known(tree, person.unit):
        return Decision(False, f"{person.name!r} belongs to unit {person.unit!r}, which is unknown")
    if action in CITY_ONLY or unit_code is None:
        return Decision(
            False, f"{person.name!r} (unit {person.unit}) may not {action} beyond its own units"
        )
    if not within(unit_code, person.unit, tree):
        return Decision(
            False, f"{person.name!r} (unit {person.unit}) may not {action} on unit {unit_code}"
        )
    return ALLOWED


def _known(tree: UnitTree, code: str) -> set[str]:
    try:
        tree.parent(code)
    except KeyError:
        return set()
    return {code}


def allowed_actions(person: Person, case: Any, tree: UnitTree) -> frozenset[str]:
    """The case actions ``person`` may take on ``case`` now (anything with ``unit_code`` and
    ``state``): role, scope and the state's own rules together."""
    if not check(person, CASE_READ, case.unit_code, tree):
        return frozenset()
    possible = cs.ACTIONS_IN_STATE.get(case.state, frozenset())
    return frozenset(a for a in possible if check(person, a, case.unit_code, tree))


def scope_units(person: Person, tree: UnitTree) -> str | None:
    """The root of what ``person`` may see: ``None`` for every unit, else its unit code."""
    return None if sees_all(person, tree) else person.unit


def actions_of(role: str) -> Iterable[str]:
    return sorted(ROLE_ACTIONS.get(role, frozenset()))
