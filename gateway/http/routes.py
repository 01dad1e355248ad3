"""The API's routes as data: what each resource serves and how it is scoped.

Every resource mounted under ``/api`` declares its routes in a ``routes`` class attribute. The
tests walk the tree the daemon builds (``gateway.app.make_api_site``) and read these
declarations, so a route added anywhere is checked without touching the tests: it must be in
the OpenAPI document (``gateway/http/openapi.json``, served at ``/api/v1/openapi.json``), answer
401 without a token, and, when unit-scoped, 403 to a unit's token asking for another unit.

``outside`` tells the scope test how to ask for something outside a unit token's subtree:
placeholders in braces (``{foreign_unit}``, ``{foreign_recording}``) that the test's seed data
fills in; a new kind of record needs its placeholder added there (the test names it when
missing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from twisted.web.resource import Resource

#: ``public``: no token needed; ``token``: any valid token; ``unit``: a unit's token sees only
#: its subtree (403 outside it).
Scope = Literal["public", "token", "unit"]


@dataclass(frozen=True)
class Outside:
    """A request for something outside a unit token's subtree (placeholders in braces)."""

    path: str | None = None  # the request path, when it differs from the route's template
    query: str = ""
    body: Mapping[str, Any] | list[Any] | None = None


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the OpenAPI document writes it: /api/v1/recordings/{id}
    scope: Scope
    summary: str
    example_path: str | None = None  # a concrete path for a templated one ({id} -> 1)
    outside: Outside | None = None  # required when scope == "unit"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def concrete_path(self) -> str:
        return self.example_path or self.path


def declared_routes(root: Resource, prefix: str = "") -> Iterator[tuple[str, Resource, Route]]:
    """Every ``(mount path, resource, route)`` in the static tree under ``root``."""
    for name, child in sorted(getattr(root, "children", {}).items()):
        path = f"{prefix}/{name.decode()}"
        for route in getattr(child, "routes", ()):
            yield path, child, route
        yield from declared_routes(child, path)


def undeclared(root: Resource, prefix: str = "") -> Iterator[str]:
    """Mount paths of resources that serve something but declare no routes (inner nodes that
    only hold children answer 404 and need none)."""
    for name, child in sorted(getattr(root, "children", {}).items()):
        path = f"{prefix}/{name.decode()}"
        serves = not getattr(child, "children", None) or getattr(child, "isLeaf", False)
        if serves and not getattr(child, "routes", ()):
            yield path
        yield from undeclared(child, path)
