"""``POST /api/v1/events``: one event or a batch, answered only after the commit.

* 202 after the transaction committed, with one result per event (``accepted`` with its survey
  decision, or ``duplicate``).
* 400 with per-item reasons when any item is invalid, unknown (unit, officers) or outside the
  token's units; a batch is all or nothing, so a sender can fix and resend it whole.
* 401 without a valid bearer token, 413 over the size limit, 415 for a body that is not JSON.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.events.schema import EventInvalidError
from gateway.http.auth import Authenticate
from gateway.surveys.intake import BatchRejectedError

log = Logger()

MAX_BATCH = 1000


def _json(request: Request, code: int, payload: Any) -> bytes:
    from gateway.http.api import write_json

    return write_json(request, code, payload)


class EventsResource(Resource):
    isLeaf = True

    def __init__(self, intake: Any, authenticate: Authenticate, *, max_body_bytes: int) -> None:
        super().__init__()
        self._intake = intake
        self._authenticate = authenticate
        self._max = max_body_bytes

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"allow", b"POST")
        return _json(request, 405, {"error": "use POST to submit events"})

    def render_POST(self, request: Request) -> bytes | int:
        principal = self._authenticate(request)
        if principal is None:
            request.setHeader(b"www-authenticate", b'Bearer realm="pingjing"')
            return _json(request, 401, {"error": "a valid bearer token is required"})
        ctype = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _json(
                request, 415, {"error": f"content-type must be application/json, not {ctype!r}"}
            )
        length = request.getHeader("content-length")
        if length is not None and length.isdigit() and int(length) > self._max:
            return _json(request, 413, {"error": f"body larger than {self._max} bytes"})
        body = request.content.read(self._max + 1)
        if len(body) > self._max:
            return _json(request, 413, {"error": f"body larger than {self._max} bytes"})
        try:
            text = body.decode("utf-8")
            payload = json.loads(text)
        except UnicodeDecodeError:
            return _json(request, 400, {"error": "body is not UTF-8"})
        except json.JSONDecodeError as exc:
            return _json(
                request, 400, {"error": f"body is not JSON: {exc.msg} at line {exc.lineno}"}
            )
        batch = isinstance(payload, list)
        items = payload if batch else [payload]
        if not items:
            return _json(request, 400, {"error": "empty batch"})
        if len(items) > MAX_BATCH:
            return _json(request, 400, {"error": f"at most {MAX_BATCH} events per request"})
        events, problems = [], []
        for index, item in enumerate(items):
            try:
                events.append(self._intake.validate(item))
            except EventInvalidError as exc:
                problems.append(
                    {
                        "index": index,
                        "event_id": exc.event_id,
                        "errors": [{"field": e.field, "reason": e.reason} for e in exc.errors],
                    }
                )
        if problems:
            return _json(request, 400, {"error": "invalid events", "items": problems})
        d = self._intake.store(events, "http", scope=principal.unit or None, all_or_nothing=True)
        d.addCallbacks(self._stored, self._failed, callbackArgs=(request,), errbackArgs=(request,))
        return NOT_DONE_YET

    def _finish(self, request: Request, body: bytes) -> None:
        if request.finished or request._disconnected:
            return
        request.write(body)
        request.finish()

    def _stored(self, results: list[Any], request: Request) -> None:
        self._finish(request, _json(request, 202, {"results": [r.as_json() for r in results]}))

    def _failed(self, failure: Failure, request: Request) -> None:
        if failure.check(BatchRejectedError):
            items = [
                {"index": i, "event_id": r.event_id, "errors": [{"reason": r.reason}]}
                for i, r in enumerate(failure.value.results)
                if r.status == "rejected"
            ]
            self._finish(request, _json(request, 400, {"error": "events rejected", "items": items}))
            return
        log.failure("http: storing events failed", failure)
        self._finish(request, _json(request, 503, {"error": "storage unavailable, retry later"}))
