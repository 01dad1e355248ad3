"""Vertical management (垂直管理): which unit handles a case about an event of a given unit.

Each sub-bureau, county bureau and city department handles its own units' unsatisfied items;
the city inspectorate oversees them all. Pure: the unit tree is passed in as
``code -> (parent code, kind)``.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Unit kinds that handle their subtree's cases at the ``bureau`` level.
BUREAU_KINDS = frozenset({"sub_bureau", "county_bureau", "department"})

Units = Mapping[str, tuple[str | None, str]]


def handling_unit(
    event_unit: str, units: Units, level: str, fixed: Mapping[str, str] | None = None
) -> str:
    """The unit to assign a case to. ``level``: ``unit`` (the event's unit), ``bureau`` (the
    nearest sub-bureau, county bureau or department at or above it; the unit itself when it
    sits directly under the root, or is the root), ``map`` (``fixed``: the event's unit or its
    nearest ancestor listed there; else as ``bureau``)."""
    if event_unit not in units:
        raise KeyError(f"unit {event_unit!r} is not in the registry")
    if level == "unit":
        return event_unit
    if level == "map" and fixed:
        cursor: str | None = event_unit
        while cursor is not None:
            if cursor in fixed:
                return fixed[cursor]
            cursor = units[cursor][0] if cursor in units else None
    cursor = event_unit
    seen: set[str] = set()
    while cursor is not None and cursor not in seen:
        seen.add(cursor)
        parent, kind = units[cursor]
        if kind in BUREAU_KINDS:
            return cursor
        if parent is None or units.get(parent, (None, ""))[0] is None:
            return cursor  # the root itself, or a unit directly under it
        cursor = parent
    return event_unit
