"""``POST /api/v1/events``: one event or a batch, answered only after the commit.

* 202 after the transaction committed, with one result per event (``accepted`` with its survey
  decision, or ``duplicate``, saying so when the stored event under that id differs).
* Everything is checked before anything is answered or stored: the format of every item, the
  registry (unknown unit, unknown officers) and the token's scope. One answer lists every
  problem of every item: 403 when an item is for a unit outside the token's units (as the
  callbacks API answers the same refusal), else 400. A batch is all or nothing, so a sender can
  fix and resend it whole.
* 401 without a valid bearer token, 413 over the size limit, 415 for a body that is not JSON.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.events.registry import EventRegistry, RegistryFacts, registry_errors, wanted
from gateway.events.schema import EventInvalidError, FieldError, ServiceEvent
from gateway.http.auth import Authenticate, Principal
from gateway.http.responses import error_body, send_error, send_json
from gateway.http.routes import Outside, Route
from gateway.surveys.intake import BatchRejectedError

log = Logger()

MAX_BATCH = 1000
UNAUTHORIZED = "missing or unknown token: send 'Authorization: Bearer <token>'"


class EventsResource(Resource):
    isLeaf = True
    routes = (
        Route(
            "POST",
            "/api/v1/events",
            "unit",
            "Submit one service event or a batch",
            outside=Outside(body={"unit_code": "{foreign_unit}"}),
        ),
    )

    def __init__(
        self,
        intake: Any,
        authenticate: Authenticate,
        registry: EventRegistry,
        *,
        max_body_bytes: int,
    ) -> None:
        super().__init__()
        self._intake = intake
        self._authenticate = authenticate
        self._registry = registry
        self._max = max_body_bytes

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"allow", b"POST")
        return error_body(request, 405, "use POST to submit events")

    def render_POST(self, request: Request) -> bytes | int:
        principal = self._authenticate(request)
        if principal is None:
            return error_body(request, 401, UNAUTHORIZED)
        ctype = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return error_body(request, 415, f"content-type must be application/json, not {ctype!r}")
        length = request.getHeader("content-length")
        if length is not None and length.isdigit() and int(length) > self._max:
            return error_body(request, 413, f"body larger than {self._max} bytes")
        body = request.content.read(self._max + 1)
        if len(body) > self._max:
            return error_body(request, 413, f"body larger than {self._max} bytes")
        try:
            payload = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            return error_body(request, 400, "body is not UTF-8")
        except json.JSONDecodeError as exc:
            return error_body(request, 400, f"body is not JSON: {exc.msg} at line {exc.lineno}")
        except RecursionError:
            return error_body(request, 400, "body is nested too deeply to read")
        items = payload if isinstance(payload, list) else [payload]
        if not items:
            return error_body(request, 400, "empty batch")
        if len(items) > MAX_BATCH:
            return error_body(request, 400, f"at most {MAX_BATCH} events per request")
        events: list[ServiceEvent | None] = []
        problems: list[tuple[str | None, list[FieldError]]] = []
        for item in items:
            try:
                events.append(self._intake.validate(item))
                problems.append((None, []))
            except EventInvalidError as exc:
                events.append(None)
                problems.append((exc.event_id, list(exc.errors)))
        units, officers = wanted(items)
        d = self._registry.facts(units, officers, principal.unit or None)
        d.addCallback(self._checked, request, principal, items, events, problems)
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _checked(
        self,
        facts: RegistryFacts,
        request: Request,
        principal: Principal,
        items: list[Any],
        events: list[ServiceEvent | None],
        problems: list[tuple[str | None, list[FieldError]]],
    ) -> Any:
        listed = []
        refused = False
        for index, (item, (event_id, errors)) in enumerate(zip(items, problems, strict=True)):
            more, outside = registry_errors(item, facts, principal.name)
            refused = refused or outside
            errors = errors + more
            if errors:
                if event_id is None and events[index] is not None:
                    event_id = events[index].event_id  # type: ignore[union-attr]
                listed.append(
                    {
                        "index": index,
                        "event_id": event_id,
                        "errors": [{"field": e.field, "reason": e.reason} for e in errors],
                    }
                )
        if refused:
            message = f"events for units outside the units of token {principal.name!r}"
            send_json(request, 403, {"error": message, "items": listed})
            return None
        if listed:
            send_json(request, 400, {"error": "invalid events", "items": listed})
            return None
        d = self._intake.store(
            [e for e in events if e is not None],
            "http",
            scope=principal.unit or None,
            all_or_nothing=True,
        )
        d.addCallback(
            lambda results: send_json(request, 202, {"results": [r.as_json() for r in results]})
        )
        return d

    def _failed(self, failure: Failure, request: Request) -> None:
        if failure.check(BatchRejectedError):
            # the registry changed between the check and the transaction
            items = [
                {"index": i, "event_id": r.event_id, "errors": [{"reason": r.reason}]}
                for i, r in enumerate(failure.value.results)
                if r.status == "rejected"
            ]
            send_json(request, 400, {"error": "events rejected", "items": items})
            return
        log.failure("http: storing events failed", failure)
        send_error(request, 503, "storage unavailable, retry later")
