"""Supervision cases over HTTP: ``/api/v1/cases`` and below.

* ``GET  /api/v1/cases?unit=&state=&overdue=&from=&to=&after=&limit=`` the inbox, newest first;
  pass ``next_after`` as ``after`` for the next page.
* ``POST /api/v1/cases`` a complaint recorded by hand (inspectors).
* ``GET  /api/v1/cases/{id}`` the case, its timeline, evidence, callback, and the actions the
  asker may take now.
* ``POST /api/v1/cases/{id}/actions`` ``{"action": ..., "version": n, ...fields}``; a stale
  version is 409 with ``"conflict": true`` and changes nothing.
* ``POST /api/v1/cases/{id}/evidence?filename=&version=`` the file as the body (type and size
  checked), stored by content hash under the data directory.
* ``GET  /api/v1/cases/{id}/evidence/{evidence_id}`` the file; every download audited.

Scope: ``gateway.accounts.permissions`` alone decides, inside the store's transaction, on the
case as it is then. A thin resource: parsing, answering; no SQL, no rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.accounts import permissions as perm
from gateway.callbacks.export import ExportQueryError, parse_bound
from gateway.cases import states as cs
from gateway.cases.actions import ActionError, parse_action
from gateway.cases.evidence import evidence_path, store_file
from gateway.cases.opening import CaseOpening
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseConflict, CaseError, CaseQuery, CaseStore
from gateway.http.auth import Authenticate
from gateway.http.responses import alive, send_error, send_json
from gateway.http.routes import Outside, Route

log = Logger()

UNAUTHORIZED = "missing or unknown token: send 'Authorization: Bearer <token>'"
MAX_LIMIT = 500


class _AnswerError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def jsonable(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v, zone) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, zone) for v in value]
    return value


def _arg(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    if len(values) > 1:
        raise _AnswerError(400, f"query parameter {name!r} is given more than once")
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _AnswerError(400, f"query parameter {name!r} is not UTF-8") from None


def _int(text: str | None, name: str, default: int, high: int = 2**62) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) > high:
        raise _AnswerError(400, f"{name}={text!r} must be a whole number up to {high}")
    return int(text)


def _json(request: Request, max_bytes: int = 256 * 1024) -> dict[str, Any]:
    ctype = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise _AnswerError(415, f"content-type must be application/json, not {ctype!r}")
    body = request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise _AnswerError(413, f"body larger than {max_bytes} bytes")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _AnswerError(400, f"body is not JSON: {exc}") from None
    except RecursionError:
        raise _AnswerError(400, "body is nested too deeply to read") from None
    if not isinstance(payload, dict):
        raise _AnswerError(400, "body must be a JSON object")
    return payload


class CasesResource(Resource):
    """Everything under ``/api/v1/cases``; the path after it is read here."""

    isLeaf = True
    routes = (
        Route(
            "GET",
            "/api/v1/cases",
            "unit",
            "List cases (an inbox)",
            outside=Outside(query="unit={foreign_unit}"),
        ),
        Route(
            "POST",
            "/api/v1/cases",
            "unit",
            "Record a complaint by hand (opens a case)",
            outside=Outside(body={"unit": "{foreign_unit}", "complaint": "投诉"}),
        ),
        Route(
            "GET",
            "/api/v1/cases/{id}",
            "unit",
            "A case with its timeline",
            example_path="/api/v1/cases/1",
            outside=Outside(path="/api/v1/cases/{foreign_case}"),
        ),
        Route(
            "POST",
            "/api/v1/cases/{id}/actions",
            "unit",
            "Act on a case (verify, find, rectify, submit, review, assign, note)",
            example_path="/api/v1/cases/1/actions",
            outside=Outside(
                path="/api/v1/cases/{foreign_case}/actions",
                body={"action": "note", "text": "x"},
            ),
        ),
        Route(
            "POST",
            "/api/v1/cases/{id}/evidence",
            "unit",
            "Upload an evidence file",
            example_path="/api/v1/cases/1/evidence",
            outside=Outside(path="/api/v1/cases/{foreign_case}/evidence"),
        ),
        Route(
            "GET",
            "/api/v1/cases/{id}/evidence/{evidence_id}",
            "unit",
            "Download an evidence file (audited)",
            example_path="/api/v1/cases/1/evidence/1",
            outside=Outside(path="/api/v1/cases/{foreign_case}/evidence/{foreign_evidence}"),
        ),
    )

    def __init__(
        self,
        store: CaseStore,
        authenticate: Authenticate,
        settings: CaseSettings,
        evidence_dir: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        run_blocking: Callable[..., defer.Deferred[Any]] = threads.deferToThread,
    ) -> None:
        """``run_blocking(f, *args)`` runs file reads and writes off the reactor thread."""
        super().__init__()
        self.run_blocking = run_blocking
        self.store = store
        self.authenticate = authenticate
        self.settings = settings
        self.evidence_dir = Path(evidence_dir)
        self.now = now

    # -- dispatch ---------------------------------------------------------------------------

    def render(self, request: Request) -> Any:
        person = self.authenticate(request)
        if person is None:
            send_error(request, 401, UNAUTHORIZED)
            return NOT_DONE_YET
        path = [p.decode("utf-8", "replace") for p in request.postpath if p]
        method = request.method.decode("ascii", "replace")
        try:
            d = self._route(method, path, request, person)
        except _AnswerError as exc:
            send_error(request, exc.status, exc.message)
            return NOT_DONE_YET
        except (CaseError, ActionError) as exc:
            self._failed(Failure(exc), request)
            return NOT_DONE_YET
        if d is not None:
            d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _route(self, method: str, path: list[str], request: Request, person: Any) -> Any:
        if not path:
            if method == "GET":
                return self._list(request, person)
            if method == "POST":
                return self._complaint(request, person)
            raise _AnswerError(405, "use GET to list cases or POST to record a complaint")
        case_id = _int(path[0], "case id", 0)
        rest = path[1:]
        if rest == [] and method == "GET":
            d = self.store.case(person, case_id, self.now())
            return d.addCallback(self._send, request)
        if rest == ["actions"] and method == "POST":
            return self._act(request, person, case_id)
        if rest == ["evidence"] and method == "POST":
            return self._upload(request, person, case_id)
        if len(rest) == 2 and rest[0] == "evidence" and method == "GET":
            return self._download(request, person, case_id, _int(rest[1], "evidence id", 0))
        raise _AnswerError(404, "no such resource")

    def _send(self, body: Any, request: Request, status: int = 200) -> None:
        send_json(request, status, jsonable(body, self.settings.zone))

    def _failed(self, failure: Failure, request: Request) -> None:
        error = failure.value
        if isinstance(error, _AnswerError):
            send_error(request, error.status, error.message)
        elif isinstance(error, CaseConflict):
            send_error(request, 409, str(error), conflict=True)
        elif isinstance(error, CaseError):
            send_error(request, error.status, str(error))
        elif isinstance(error, ActionError):
            send_error(request, 400, str(error))
        else:
            log.failure("case API request {uri} failed", failure, uri=request.uri)
            send_error(request, 500, "the server failed; see its log")

    # -- the inbox --------------------------------------------------------------------------

    def _list(self, request: Request, person: Any) -> defer.Deferred[None]:
        zone = self.settings.zone
        try:
            start, end = (
                parse_bound(text, zone, end=name == "to", what=name) if text else None
                for name, text in (("from", _arg(request, "from")), ("to", _arg(request, "to")))
            )
        except ExportQueryError as exc:
            raise _AnswerError(400, str(exc)) from None
        states = [s for s in (_arg(request, "state") or "").split(",") if s]
        unknown = [s for s in states if s not in cs.STATES]
        if unknown:
            raise _AnswerError(400, f"state {unknown[0]!r} is not one of {', '.join(cs.STATES)}")
        overdue_text = _arg(request, "overdue")
        if overdue_text not in (None, "true", "false"):
            raise _AnswerError(400, "overdue must be true or false")
        overdue = None if overdue_text is None else overdue_text == "true"
        inbox = _arg(request, "inbox")
        if inbox not in (None, "true", "false"):
            raise _AnswerError(400, "inbox must be true or false")
        if inbox == "true":  # what the asker's role moves on, within any state asked for
            mine = perm.inbox_states(person)
            states = [s for s in states if s in mine] if states else mine
            if not states:
                states = ["-"]  # nothing to do: no state matches
        unit = _arg(request, "unit")
        limit = _int(_arg(request, "limit"), "limit", 50, MAX_LIMIT) or 50
        after = _int(_arg(request, "after"), "after", 0)

        def query(tree: Any) -> defer.Deferred[list[dict[str, Any]]]:
            decision = perm.check(person, perm.CASE_READ, unit, tree) if unit else None
            if unit and unit not in tree:
                raise _AnswerError(400, f"unit {unit!r} does not exist")
            if decision is not None and not decision:
                raise _AnswerError(403, decision.reason)
            if not perm.may(person, perm.CASE_READ):
                raise _AnswerError(403, perm.may(person, perm.CASE_READ).reason)
            scope = perm.scope_units(person, tree)
            if scope is not None and scope not in tree:
                raise _AnswerError(403, f"{person.name!r} belongs to unknown unit {scope!r}")
            return self.store.cases(
                CaseQuery(
                    scope=scope,
                    unit=unit,
                    states=states,
                    overdue=overdue,
                    start=start,
                    end=end,
                    after=after,
                    limit=limit + 1,
                    now=self.now(),
                )
            )

        def page(rows: list[dict[str, Any]]) -> None:
            more = len(rows) > limit
            rows = rows[:limit]
            body = {"cases": rows, "next_after": rows[-1]["id"] if more else None}
            self._send(body, request)

        d = self.store.unit_tree()
        d.addCallback(query)
        d.addCallback(page)
        return d

    # -- acting -----------------------------------------------------------------------------

    def _act(self, request: Request, person: Any, case_id: int) -> defer.Deferred[None]:
        body = _json(request)
        version = body.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise _AnswerError(400, "'version' must be the case's version number")
        event = parse_action(
            str(body.get("action", "")), body, actor=person.name, at=self.now(), version=version
        )
        return self.store.act(person, case_id, event).addCallback(self._send, request)

    def _complaint(self, request: Request, person: Any) -> defer.Deferred[None]:
        body = _json(request)
        unit, text = body.get("unit"), body.get("complaint")
        if not isinstance(unit, str) or not unit:
            raise _AnswerError(400, "'unit' (the unit complained about) is required")
        if not isinstance(text, str) or not text.strip():
            raise _AnswerError(400, "'complaint' (what the citizen said) is required")
        phone = body.get("phone")
        officers = body.get("officers") or []
        if not isinstance(officers, list):
            raise _AnswerError(400, "'officers' must be a list of police numbers")
        opening = CaseOpening(
            event_unit_code=unit,
            origin="complaint",
            at=self.now(),
            actor=person.name,
            phone=phone if isinstance(phone, str) and phone else None,
            officers=tuple(str(o) for o in officers),
            complaint=text.strip(),
            consent=body.get("consent") if isinstance(body.get("consent"), bool) else None,
        )
        d = self.store.open_complaint(person, opening)
        return d.addCallback(self._send, request, 201)

    # -- evidence ---------------------------------------------------------------------------

    def _upload(self, request: Request, person: Any, case_id: int) -> defer.Deferred[None]:
        """Who may first (nothing is read or stored for someone who may not), then the file."""
        d = self.store.may(person, case_id, cs.RECTIFY)
        d.addCallback(lambda _: self._store_upload(request, person, case_id))
        return d

    def _store_upload(self, request: Request, person: Any, case_id: int) -> defer.Deferred[None]:
        ctype = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        if ctype not in self.settings.evidence_types:
            allowed = ", ".join(self.settings.evidence_types)
            raise _AnswerError(
                415, f"evidence of type {ctype!r} is not accepted (accepted: {allowed})"
            )
        limit = self.settings.evidence_max_bytes
        length = request.getHeader("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _AnswerError(413, f"evidence larger than {limit} bytes")
        data = request.content.read(limit + 1)
        if len(data) > limit:
            raise _AnswerError(413, f"evidence larger than {limit} bytes")
        if not data:
            raise _AnswerError(400, "the evidence file is empty")
        filename = os.path.basename((_arg(request, "filename") or "evidence").replace("\\", "/"))
        version_text = _arg(request, "version")
        version = _int(version_text, "version", 0) if version_text is not None else None

        def recorded(digest: str) -> defer.Deferred[Any]:
            meta = {
                "sha256": digest,
                "filename": filename or "evidence",
                "content_type": ctype,
                "size_bytes": len(data),
                "at": self.now(),
            }
            return self.store.add_evidence(person, case_id, version, meta)

        # up to evidence_max_bytes written and fsynced: not on the reactor thread
        d = self.run_blocking(store_file, self.evidence_dir, data)
        d.addCallback(recorded)
        return d.addCallback(self._send, request, 201)

    def evidence_path(self, digest: str) -> Path:
        return evidence_path(self.evidence_dir, digest)

    def _download(
        self, request: Request, person: Any, case_id: int, evidence_id: int
    ) -> defer.Deferred[None]:
        def read(file: Any) -> defer.Deferred[tuple[Any, bytes]]:
            path = self.evidence_path(file.sha256)

            def load() -> bytes:
                if not path.is_file():
                    raise _AnswerError(404, f"evidence {evidence_id}: its file is missing")
                return path.read_bytes()

            # a file of up to evidence_max_bytes: read on a worker thread, not the reactor's
            return self.run_blocking(load).addCallback(lambda body: (file, body))

        def serve(loaded: tuple[Any, bytes]) -> None:
            file, body = loaded
            if not alive(request):
                return
            from urllib.parse import quote

            request.setResponseCode(200)
            request.setHeader(b"content-type", file.content_type.encode("ascii", "replace"))
            request.setHeader(b"cache-control", b"no-store")
            request.setHeader(b"x-content-type-options", b"nosniff")
            request.setHeader(
                b"content-disposition",
                f"attachment; filename*=UTF-8''{quote(file.filename)}".encode("ascii"),
            )
            request.write(body)
            request.finish()

        d = self.store.evidence(person, case_id, evidence_id)
        return d.addCallback(read).addCallback(serve)
