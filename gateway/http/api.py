"""The resource tree: ``/api/v1/...``. Other parts mount their resources on ``v1``.

``build_api`` returns the site root and the ``v1`` node; ``GET /api/v1/callbacks`` and the
recordings are added with ``v1.putChild(b"callbacks", ...)`` by whoever wires the daemon.
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from gateway.events.registry import EventRegistry
from gateway.http.auth import Authenticate
from gateway.http.events import EventsResource
from gateway.http.openapi import OpenApiResource
from gateway.http.responses import error_body


class JsonNotFound(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        return error_body(request, 404, "no such resource")


class ApiNode(Resource):
    """An inner node that answers unknown children with a JSON 404."""

    def getChild(self, path: bytes, request: Request) -> Resource:
        return JsonNotFound()

    def render(self, request: Request) -> bytes:
        return error_body(request, 404, "no such resource")


def build_api(
    *,
    intake: Any,
    authenticate: Authenticate,
    registry: EventRegistry,
    max_body_bytes: int = 4 * 1024 * 1024,
) -> tuple[Resource, Resource]:
    """The root resource and its ``/api/v1`` node, with ``POST /api/v1/events`` mounted."""
    root = ApiNode()
    api = ApiNode()
    v1 = ApiNode()
    root.putChild(b"api", api)
    api.putChild(b"v1", v1)
    v1.putChild(
        b"events",
        EventsResource(intake, authenticate, registry, max_body_bytes=max_body_bytes),
    )
    v1.putChild(b"openapi.json", OpenApiResource(authenticate))
    return root, v1


def make_site(root: Resource) -> Site:
    site = Site(root)
    site.displayTracebacks = False
    return site
