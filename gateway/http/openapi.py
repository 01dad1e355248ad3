"""``GET /api/v1/openapi.json``: the API described (``gateway/http/openapi.json``, kept in the
repository and checked against the mounted routes by ``tests/http/test_routes.py``)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from gateway.http.auth import Authenticate
from gateway.http.responses import error_body, json_body
from gateway.http.routes import Route

UNAUTHORIZED = "missing or unknown token: send 'Authorization: Bearer <token>'"


def load_document() -> dict[str, Any]:
    text = resources.files("gateway.http").joinpath("openapi.json").read_text("utf-8")
    return json.loads(text)


class OpenApiResource(Resource):
    isLeaf = True
    routes = (Route("GET", "/api/v1/openapi.json", "token", "This document"),)

    def __init__(self, authenticate: Authenticate) -> None:
        super().__init__()
        self._authenticate = authenticate
        self._document = load_document()

    def render_GET(self, request: Request) -> bytes:
        if self._authenticate(request) is None:
            return error_body(request, 401, UNAUTHORIZED)
        return json_body(request, 200, self._document)
