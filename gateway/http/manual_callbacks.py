"""Callbacks made by hand over HTTP (inspectors).

* ``GET  /api/v1/manual-callbacks?unit=&after=&limit=&unreachable=`` the list to call, paged
  on the server by task id (``next_after``); phones masked unless ``reveal=true`` (the
  request is then audited with who asked).
* ``POST /api/v1/manual-callbacks/{id}/calls`` ``{"reached": bool, "reason_key"?,
  "rating"?, "consent"?, "notes"?}``: the call made; a reached citizen completes the task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.callbacks.manual import ManualCallRecord
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseError
from gateway.http.auth import Authenticate
from gateway.http.cases import UNAUTHORIZED, _AnswerError, _arg, _int, _json, jsonable
from gateway.http.responses import send_error, send_json
from gateway.http.routes import Outside, Route

log = Logger()
MAX_LIMIT = 500


class ManualCallbacksResource(Resource):
    isLeaf = True
    routes = (
        Route(
            "GET",
            "/api/v1/manual-callbacks",
            "unit",
            "Callbacks to make by hand",
            outside=Outside(query="unit={foreign_unit}"),
        ),
        Route(
            "POST",
            "/api/v1/manual-callbacks/{id}/calls",
            "unit",
            "Record a callback made by hand",
            example_path="/api/v1/manual-callbacks/1/calls",
            outside=Outside(
                path="/api/v1/manual-callbacks/{foreign_callback}/calls", body={"reached": False}
            ),
        ),
    )

    def __init__(
        self,
        store: Any,  # storage.manual_calls.SqlManualCallbacks
        authenticate: Authenticate,
        settings: CaseSettings,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.store = store
        self.authenticate = authenticate
        self.settings = settings
        self.now = now

    def render(self, request: Request) -> Any:
        person = self.authenticate(request)
        if person is None:
            send_error(request, 401, UNAUTHORIZED)
            return NOT_DONE_YET
        path = [p.decode("utf-8", "replace") for p in request.postpath if p]
        method = request.method.decode("ascii", "replace")
        try:
            if path == [] and method == "GET":
                d = self._list(request, person)
            elif len(path) == 2 and path[1] == "calls" and method == "POST":
                d = self._record(request, person, _int(path[0], "callback id", 0))
            else:
                raise _AnswerError(404, "no such resource")
        except _AnswerError as exc:
            send_error(request, exc.status, exc.message)
            return NOT_DONE_YET
        d.addCallback(lambda body: send_json(request, 200, jsonable(body, self.settings.zone)))
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _list(self, request: Request, person: Any) -> Any:
        limit = _int(_arg(request, "limit"), "limit", 100, MAX_LIMIT) or 100
        flags = {}
        for name in ("unreachable", "reveal"):
            value = _arg(request, name)
            if value not in (None, "true", "false"):
                raise _AnswerError(400, f"{name} must be true or false")
            flags[name] = value == "true"
        d = self.store.manual_list(
            person,
            unit=_arg(request, "unit"),
            include_unreachable=flags["unreachable"],
            after=_int(_arg(request, "after"), "after", 0),
            limit=limit + 1,
            reveal_phone=flags["reveal"],
        )

        def page(rows: list[dict[str, Any]]) -> dict[str, Any]:
            more = len(rows) > limit
            rows = rows[:limit]
            return {"callbacks": rows, "next_after": rows[-1]["callback_id"] if more else None}

        return d.addCallback(page)

    def _record(self, request: Request, person: Any, callback_id: int) -> Any:
        body = _json(request)
        reached = body.get("reached")
        if not isinstance(reached, bool):
            raise _AnswerError(400, "'reached' (true or false) is required")
        values: dict[str, Any] = {}
        for name in ("reason_key", "rating", "notes"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise _AnswerError(400, f"{name!r} must be text")
            values[name] = value or None
        consent = body.get("consent")
        if consent is not None and not isinstance(consent, bool):
            raise _AnswerError(400, "'consent' must be true or false")
        call = ManualCallRecord(reached=reached, consent=consent, **values)
        return self.store.record_call(person, callback_id, call, self.now())

    def _failed(self, failure: Failure, request: Request) -> None:
        error = failure.value
        if isinstance(error, _AnswerError):
            send_error(request, error.status, error.message)
        elif isinstance(error, CaseError):
            send_error(request, error.status, str(error))
        else:
            log.failure("manual callback request {uri} failed", failure, uri=request.uri)
            send_error(request, 500, "the server failed; see its log")
