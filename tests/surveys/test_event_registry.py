"""The registry pass of a batch: unknown units and officers and the token's scope, per item."""

import pytest_twisted

from gateway.events.registry import (
    MemoryEventRegistry,
    RegistryFacts,
    references,
    registry_errors,
    wanted,
)
from storage.registry_store import SqlEventRegistry
from tests.surveys.support import event_data

UNITS = {"3301": None, "330102": "3301", "330102001": "330102", "330103001": "3301"}


def result(d):
    out = []
    d.addBoth(out.append)
    return out[0]


def test_references_are_read_from_items_whatever_else_is_wrong():
    """An item with a bad category still has its unit and officers checked."""
    item = event_data(category="nope", officer_ids=["P001", "bad id", "P002"])
    assert references(item) == ("330102001", [(0, "P001"), (2, "P002")])
    assert references("not an object") == (None, [])


def test_every_unknown_reference_is_its_own_error():
    facts = RegistryFacts(units=frozenset(), officers=frozenset({"P001"}))
    errors, refused = registry_errors(
        event_data(unit_code="999", officer_ids=["P001", "P404", "P405"]), facts, "t"
    )
    assert [e.field for e in errors] == ["unit_code", "officer_ids[1]", "officer_ids[2]"]
    assert not refused


def test_a_known_unit_outside_the_scope_is_a_refusal():
    facts = RegistryFacts(units=frozenset({"330103001"}), officers=frozenset(), scope=frozenset())
    errors, refused = registry_errors(
        event_data(unit_code="330103001", officer_ids=[]), facts, "chengguan"
    )
    assert refused and errors[0].reason == "'330103001' is outside the units of token 'chengguan'"


@pytest_twisted.inlineCallbacks
def test_the_sql_registry_answers_as_the_memory_one(db):
    """Both back-ends: known units and officers among those asked, and the scope's subtree."""
    units, officers = wanted([event_data(), event_data(unit_code="999", officer_ids=["P404"])])
    sql = yield SqlEventRegistry(db).facts(units, officers, "330102")
    assert sql.units == frozenset({"330102001"})
    assert sql.officers == frozenset({"P001"})
    assert sql.scope == frozenset({"330102", "330102001"})
    memory = result(MemoryEventRegistry(UNITS, ["P001", "P002"]).facts(units, officers, "330102"))
    assert memory == sql
    everyone = yield SqlEventRegistry(db).facts(units, officers, None)
    assert everyone.scope is None
