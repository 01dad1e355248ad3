"""The one permission check: role × scope, and for a case, its state too."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.accounts import permissions as p
from gateway.accounts.model import Role, User
from gateway.cases import states as cs

TREE = p.MappingUnitTree(
    {"C": None, "S1": "C", "P1": "S1", "P2": "S1", "S2": "C", "P3": "S2", "D1": "C"}
)


def user(role: Role, unit: str, *, disabled: bool = False) -> User:
    return User(1, f"{role}-{unit}", "某某", unit, role, disabled=disabled)


@dataclass(frozen=True)
class Machine:
    name: str
    unit: str


@dataclass(frozen=True)
class Case:
    unit_code: str
    state: str


def test_inspector_of_a_sub_bureau_acts_within_its_subtree_only():
    """A sub-bureau's inspector verifies its stations' cases, not another bureau's."""
    inspector = user(Role.INSPECTOR, "S1")
    assert p.check(inspector, cs.FIND, "P1", TREE)
    assert p.check(inspector, cs.FIND, "S1", TREE)
    refused = p.check(inspector, cs.FIND, "P3", TREE)
    assert not refused and "P3" in refused.reason
    assert not p.check(inspector, cs.FIND, "C", TREE)


def test_city_inspectorate_sees_every_unit():
    """A user of the root unit, and a token without a unit, see everything."""
    city = user(Role.INSPECTOR, "C")
    for unit in ("C", "S1", "P1", "P3", "D1"):
        assert p.check(city, cs.REVIEW, unit, TREE)
    assert p.check(city, p.USER_MANAGE, None, TREE)
    assert p.check(Machine("reports", ""), p.CASE_READ, "P3", TREE)


def test_role_decides_before_scope():
    """A handler rectifies but does not verify or review; a viewer only reads."""
    handler = user(Role.HANDLER, "P1")
    assert p.check(handler, cs.RECTIFY, "P1", TREE)
    assert p.check(handler, cs.SUBMIT, "P1", TREE)
    decision = p.check(handler, cs.REVIEW, "P1", TREE)
    assert not decision and "handler" in decision.reason
    viewer = user(Role.VIEWER, "C")
    assert p.check(viewer, p.CASE_READ, "P1", TREE)
    assert not p.check(viewer, cs.RECTIFY, "P1", TREE)
    leader = user(Role.LEADER, "S1")
    assert p.check(leader, cs.SUBMIT, "P2", TREE)
    assert not p.check(leader, p.LADDER_DECIDE, "P2", TREE)


def test_disabled_user_may_do_nothing():
    for action in p.ALL_ACTIONS:
        decision = p.check(user(Role.INSPECTOR, "C", disabled=True), action, "P1", TREE)
        assert not decision and "disabled" in decision.reason


def test_machine_token_submits_events_and_reads_but_never_acts_on_cases():
    machine = Machine("intake", "S1")
    assert p.check(machine, p.EVENTS_SUBMIT, "P1", TREE)
    assert p.check(machine, p.CASE_READ, "P2", TREE)
    assert not p.check(machine, p.CASE_READ, "P3", TREE)
    for action in cs.CASE_ACTIONS:
        assert not p.check(machine, action, "P1", TREE)


def test_unknown_unit_and_unknown_action_are_refused():
    assert not p.check(user(Role.INSPECTOR, "NOPE"), p.CASE_READ, "P1", TREE)
    assert not p.check(user(Role.INSPECTOR, "S1"), p.CASE_READ, "NOPE", TREE)
    assert "unknown action" in p.check(user(Role.INSPECTOR, "C"), "case.burn", "P1", TREE).reason


def test_user_management_needs_the_city_level():
    """Only someone who sees every unit manages accounts."""
    assert not p.check(user(Role.INSPECTOR, "S1"), p.USER_MANAGE, "P1", TREE)
    assert not p.check(user(Role.INSPECTOR, "S1"), p.USER_MANAGE, None, TREE)


def test_allowed_actions_follow_the_state():
    """What is offered on a case is what its state accepts, for that role, in scope."""
    inspector = user(Role.INSPECTOR, "S1")
    handler = user(Role.HANDLER, "P1")
    assert p.allowed_actions(inspector, Case("P1", cs.OPEN), TREE) == {
        cs.ASSIGN,
        cs.START_VERIFY,
        cs.NOTE,
    }
    assert p.allowed_actions(inspector, Case("P1", cs.UNDER_REVIEW), TREE) == {cs.REVIEW, cs.NOTE}
    assert p.allowed_actions(handler, Case("P1", cs.RECTIFYING), TREE) == {
        cs.RECTIFY,
        cs.SUBMIT,
        cs.NOTE,
    }
    assert p.allowed_actions(handler, Case("P2", cs.RECTIFYING), TREE) == frozenset()
    assert p.allowed_actions(inspector, Case("P1", cs.CLOSED), TREE) == {cs.NOTE}


ROLES = st.sampled_from(list(Role))
UNITS = st.sampled_from(["C", "S1", "P1", "P2", "S2", "P3", "D1"])


@given(ROLES, UNITS, UNITS, st.sampled_from(sorted(p.ALL_ACTIONS | cs.CASE_ACTIONS)))
def test_check_is_role_and_subtree(role, home, target, action):
    """For every role, unit and action: allowed exactly when the role has the action and the
    target is in the home unit's subtree (or home is the root)."""
    decision = p.check(user(role, home), action, target, TREE)
    in_role = action in p.ROLE_ACTIONS[role]
    in_scope = home == "C" or (action not in p.CITY_ONLY and p.within(target, home, TREE))
    assert bool(decision) == (in_role and in_scope)
    assert decision.allowed or decision.reason


@given(ROLES, UNITS, UNITS, st.sampled_from(cs.STATES))
def test_allowed_actions_are_each_checked_and_possible(role, home, target, state):
    person = user(role, home)
    actions = p.allowed_actions(person, Case(target, state), TREE)
    assert actions <= cs.ACTIONS_IN_STATE[state]
    assert all(p.check(person, a, target, TREE) for a in actions)


@pytest.mark.parametrize("code,ancestor,expected", [("P1", "C", True), ("P1", "S2", False)])
def test_within(code, ancestor, expected):
    assert p.within(code, ancestor, TREE) is expected
