"""What the registry says about a batch before it is stored: unknown units and officers, and
units outside the sender's scope, item by item, together with the format errors.

The HTTP door asks an :class:`EventRegistry` (``storage/registry_store.py``) once per batch for
the facts, then :func:`registry_errors` names every problem of every item, so a rejected batch
lists everything in one answer. The store checks the same rules again inside its transaction
(the registry may change in between); this pass is what lets the sender fix all at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from twisted.internet import defer

from gateway.events.schema import _CODE as CODE
from gateway.events.schema import FieldError
from gateway.masking import shown


@dataclass(frozen=True)
class RegistryFacts:
    """Which of the asked unit codes and police numbers exist, and the sender's scope."""

    units: frozenset[str]
    officers: frozenset[str]
    #: the unit codes the sender may post events for; ``None``: every unit
    scope: frozenset[str] | None = None


class EventRegistry(Protocol):
    def facts(
        self, unit_codes: Collection[str], officer_ids: Collection[str], scope: str | None
    ) -> defer.Deferred[RegistryFacts]:
        """``scope``: a unit code whose subtree the sender may post for (``None``: all)."""


def references(item: object) -> tuple[str | None, list[tuple[int, str]]]:
    """The unit code and the (index, police number) pairs an item names, where they are
    well-formed enough to look up, even when other fields of the item are wrong."""
    if not isinstance(item, Mapping):
        return None, []
    unit = item.get("unit_code")
    unit_code = unit.strip() if isinstance(unit, str) and CODE.fullmatch(unit.strip()) else None
    officers = item.get("officer_ids")
    if isinstance(officers, str):
        officers = [o for o in officers.replace("|", ";").replace(",", ";").split(";")]
    pairs = []
    if isinstance(officers, list | tuple):
        for index, number in enumerate(officers):
            if isinstance(number, str) and CODE.fullmatch(number.strip()):
                pairs.append((index, number.strip()))
    return unit_code, pairs


def wanted(items: Iterable[object]) -> tuple[set[str], set[str]]:
    """Every unit code and police number a batch names, for one registry lookup."""
    units: set[str] = set()
    officers: set[str] = set()
    for item in items:
        unit, pairs = references(item)
        if unit is not None:
            units.add(unit)
        officers.update(number for _, number in pairs)
    return units, officers


def registry_errors(
    item: object, facts: RegistryFacts, sender: str
) -> tuple[list[FieldError], bool]:
    """The item's registry problems, and whether one of them is a refusal of scope (403)."""
    unit, pairs = references(item)
    errors: list[FieldError] = []
    refused = False
    if unit is not None:
        if unit not in facts.units:
            errors.append(FieldError("unit_code", f"{shown(unit)} is not a known unit"))
        elif facts.scope is not None and unit not in facts.scope:
            errors.append(
                FieldError("unit_code", f"{shown(unit)} is outside the units of token {sender!r}")
            )
            refused = True
    for index, number in pairs:
        if number not in facts.officers:
            errors.append(
                FieldError(f"officer_ids[{index}]", f"{shown(number)} is not a known officer")
            )
    return errors, refused


class MemoryEventRegistry:
    """An :class:`EventRegistry` over plain data: units as ``code -> parent code``."""

    def __init__(self, units: Mapping[str, str | None], officers: Iterable[str]) -> None:
        self.units = dict(units)
        self.officers = frozenset(officers)

    def _subtree(self, code: str) -> frozenset[str]:
        found = {code} if code in self.units else set()
        grew = bool(found)
        while grew:
            below = {c for c, parent in self.units.items() if parent in found}
            grew = not below <= found
            found |= below
        return frozenset(found)

    def facts(
        self, unit_codes: Collection[str], officer_ids: Collection[str], scope: str | None
    ) -> defer.Deferred[RegistryFacts]:
        return defer.succeed(
            RegistryFacts(
                units=frozenset(c for c in unit_codes if c in self.units),
                officers=frozenset(n for n in officer_ids if n in self.officers),
                scope=None if scope is None else self._subtree(scope),
            )
        )
