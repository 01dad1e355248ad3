"""A person's request (by name, with fields, as the API and the CLI receive it) as a lifecycle
event. One parser for both doors, so they accept the same words."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.cases import lifecycle as lc

#: action name -> (event type, required fields, optional fields)
ACTIONS: dict[str, tuple[type, tuple[str, ...], tuple[str, ...]]] = {
    "assign": (lc.Assign, ("unit", "reason"), ()),
    "start_verify": (lc.StartVerify, (), ()),
    "substantiate": (lc.Substantiate, ("officers", "finding"), ()),
    "unsubstantiate": (lc.Unsubstantiate, ("reason",), ()),
    "edit_officers": (lc.EditOfficers, ("officers", "reason"), ()),
    "rectify": (lc.Rectify, ("measure",), ()),
    "submit": (lc.Submit, (), ("note",)),
    "accept": (lc.Accept, (), ("note",)),
    "return": (lc.Return, ("reason",), ()),
    "note": (lc.Note, ("text",), ()),
}


class ActionError(ValueError):
    """The request does not name a known action or lacks a field; the message says which."""


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name, "")
    if not isinstance(value, str):
        raise ActionError(f"{name!r} must be text")
    return value


def _officers(fields: Mapping[str, Any]) -> tuple[str, ...]:
    value = fields.get("officers")
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ActionError("'officers' must be a list of police numbers")
    return tuple(value)


def parse_action(
    name: str, fields: Mapping[str, Any], *, actor: str, at: datetime, version: int | None
) -> lc.Event:
    if name not in ACTIONS:
        raise ActionError(f"unknown action {name!r} (known: {', '.join(ACTIONS)})")
    kind, required, _ = ACTIONS[name]
    missing = [f for f in required if fields.get(f) in (None, "", [])]
    if missing:
        raise ActionError(f"{name} needs {', '.join(repr(f) for f in missing)}")
    base = {"actor": actor, "at": at, "version": version}
    match name:
        case "assign":
            return lc.Assign(
                **base, unit_code=_text(fields, "unit"), reason=_text(fields, "reason")
            )
        case "substantiate":
            return lc.Substantiate(
                **base, officers=_officers(fields), finding=_text(fields, "finding")
            )
        case "unsubstantiate" | "return":
            return kind(**base, reason=_text(fields, "reason"))
        case "edit_officers":
            return lc.EditOfficers(
                **base, officers=_officers(fields), reason=_text(fields, "reason")
            )
        case "rectify":
            return lc.Rectify(**base, measure=_text(fields, "measure"))
        case "submit" | "accept":
            return kind(**base, note=_text(fields, "note"))
        case "note":
            return lc.Note(**base, text=_text(fields, "text"))
    return kind(**base)
