"""The accountability ladder over HTTP.

* ``GET  /api/v1/ladder?unit=&officer=&undecided=&at=`` the period's proposals the asker may
  read (inspectors and leaders), each with its evidence (the cases) and any decision.
* ``POST /api/v1/ladder/decisions`` ``{"case_id", "police_number", "subject", "decision",
  "measure"?, "reason"?}``: an inspector records a decision (as_proposed, changed, dismissed);
  nothing is applied automatically, and a proposal is decided once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.callbacks.export import ExportQueryError, parse_bound
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseError
from gateway.http.auth import Authenticate
from gateway.http.cases import UNAUTHORIZED, _AnswerError, _arg, _json, jsonable
from gateway.http.responses import send_error, send_json
from gateway.http.routes import Outside, Route

log = Logger()


class LadderResource(Resource):
    isLeaf = True
    routes = (
        Route(
            "GET",
            "/api/v1/ladder",
            "unit",
            "Accountability ladder proposals",
            outside=Outside(query="unit={foreign_unit}"),
        ),
        Route(
            "POST",
            "/api/v1/ladder/decisions",
            "unit",
            "Record a decision on a ladder proposal",
            outside=Outside(
                body={
                    "case_id": "{foreign_case}",
                    "police_number": "{foreign_officer}",
                    "subject": "officer",
                    "decision": "as_proposed",
                }
            ),
        ),
    )

    def __init__(
        self,
        store: Any,  # storage.ladder_store.SqlLadderStore
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
            elif path == ["decisions"] and method == "POST":
                d = self._decide(request, person)
            else:
                raise _AnswerError(404, "no such resource")
        except _AnswerError as exc:
            send_error(request, exc.status, exc.message)
            return NOT_DONE_YET
        d.addCallback(lambda body: send_json(request, 200, jsonable(body, self.settings.zone)))
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _list(self, request: Request, person: Any) -> Any:
        at_text = _arg(request, "at")
        try:
            at = parse_bound(at_text, self.settings.zone, end=False, what="at") if at_text else None
        except ExportQueryError as exc:
            raise _AnswerError(400, str(exc)) from None
        undecided = _arg(request, "undecided")
        if undecided not in (None, "true", "false"):
            raise _AnswerError(400, "undecided must be true or false")
        return self.store.proposals(
            person,
            at or self.now(),
            unit=_arg(request, "unit"),
            officer=_arg(request, "officer"),
            undecided=undecided == "true",
        )

    def _decide(self, request: Request, person: Any) -> Any:
        body = _json(request)
        case_id = body.get("case_id")
        if isinstance(case_id, str) and case_id.isdigit():
            case_id = int(case_id)
        if not isinstance(case_id, int) or isinstance(case_id, bool):
            raise _AnswerError(400, "'case_id' must be a case id")
        fields = {}
        for name in ("police_number", "subject", "decision"):
            value = body.get(name)
            if not isinstance(value, str) or not value:
                raise _AnswerError(400, f"{name!r} is required")
            fields[name] = value
        for name in ("measure", "reason"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise _AnswerError(400, f"{name!r} must be text")
            fields[name] = value
        return self.store.decide(person, case_id=case_id, now=self.now(), **fields)

    def _failed(self, failure: Failure, request: Request) -> None:
        error = failure.value
        if isinstance(error, _AnswerError):
            send_error(request, error.status, error.message)
        elif isinstance(error, CaseError):
            send_error(request, error.status, str(error))
        else:
            log.failure("ladder API request {uri} failed", failure, uri=request.uri)
            send_error(request, 500, "the server failed; see its log")
