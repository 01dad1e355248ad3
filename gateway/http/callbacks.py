"""Supervisors' callback API: ``GET /api/v1/callbacks`` and ``GET /api/v1/recordings/{id}``.

Thin twisted.web resources: they authenticate, parse filters, and call the same query the
``pingjing export callbacks`` command uses (:mod:`storage.callback_export`) on the database
thread pool; they hold no business rules. Scope: a token without a unit (the inspectorate)
sees every unit; a unit's token sees that unit and the units below it, and asking for anything
else is a 403 naming what was refused. Every recording fetch, allowed or refused, is written to
``audit_log`` (who, when, which) in the same transaction that looked it up.

Mount them with :func:`callback_api` (``putChild`` the returned children on the ``v1`` node of
``gateway.http.api.build_api``). Errors have the API's shape, ``{"error": "<what was wrong>"}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.http.auth import Authenticate, Principal
from storage.callback_export import (
    FIELDS,
    ExportQueryError,
    callback_rows,
    parse_bound,
    unit_scope,
)
from storage.models import AuditEntry, CallAttempt, CallbackTask, Recording, Unit

log = Logger()

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class DatabaseRunner(Protocol):
    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


class ScopeError(Exception):
    """The token may not see what it asked for (403)."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _alive(request: Request) -> bool:
    return not request.finished and not getattr(request, "_disconnected", False)


def write_json(request: Request, status: int, body: dict[str, Any]) -> None:
    if not _alive(request):
        return  # the client went away; nothing to answer
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    request.write(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    request.finish()


def write_error(request: Request, status: int, code: str, message: str) -> None:
    """The API's error shape, as ``POST /api/v1/events`` answers: ``{"error": message}``;
    ``code`` only picks the WWW-Authenticate header."""
    if status == 401:
        request.setHeader(b"www-authenticate", b'Bearer realm="pingjing"')
    write_json(request, status, {"error": message})


def _unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized", "missing or unknown token: send 'Authorization: Bearer <token>'"
    )


def _token_scope(session: Session, principal: Principal) -> list[int] | None:
    """The unit ids a token may see (``None``: all); a token naming an unknown unit sees
    nothing and is told why."""
    if not principal.unit:
        return None
    try:
        return unit_scope(session, principal.unit)
    except ExportQueryError:
        raise ScopeError(
            f"token {principal.name!r} is scoped to unit {principal.unit!r}, which does not exist"
        ) from None


class _JsonResource(Resource):
    """Runs ``self.work(request, principal)`` (a Deferred) and turns errors into JSON."""

    def __init__(self, db: DatabaseRunner, authenticate: Authenticate) -> None:
        super().__init__()
        self.db = db
        self.authenticate = authenticate

    def render_GET(self, request: Request) -> Any:
        principal = self.authenticate(request)
        if principal is None:
            write_error(request, 401, *_pair(_unauthorized()))
            return NOT_DONE_YET
        try:
            d = self.work(request, principal)
        except ApiError as exc:
            write_error(request, exc.status, exc.code, exc.message)
            return NOT_DONE_YET
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def work(self, request: Request, principal: Principal) -> Any:
        raise NotImplementedError

    def _failed(self, failure: Failure, request: Request) -> None:
        error = failure.value
        if isinstance(error, ApiError):
            write_error(request, error.status, error.code, error.message)
        elif isinstance(error, ScopeError):
            write_error(request, 403, "forbidden", str(error))
        elif isinstance(error, ExportQueryError):
            write_error(request, 400, "bad_request", str(error))
        else:
            log.failure("callback API request {uri} failed", failure, uri=request.uri)
            write_error(request, 500, "internal_error", "the server failed; see its log")


def _pair(exc: ApiError) -> tuple[str, str]:
    return exc.code, exc.message


def _arg(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, "bad_request", f"query parameter {name!r} is given more than once")
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", f"query parameter {name!r} is not UTF-8") from None


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = _arg(request, name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400, "bad_request", f"query parameter {name!r}={raw!r} must be {low}..{high}"
        )
    return int(raw)


class CallbacksResource(_JsonResource):
    """``GET /api/v1/callbacks?from=&to=&unit=&status=&limit=&after=``.

    Answers ``{"callbacks": [...], "next_after": id | null}``; pass ``next_after`` as
    ``after`` for the next page.
    """

    isLeaf = True

    def __init__(
        self,
        db: DatabaseRunner,
        authenticate: Authenticate,
        zone: ZoneInfo,
        recordings_url: str = "/api/v1/recordings/",
    ) -> None:
        super().__init__(db, authenticate)
        self.zone = zone
        self.recordings_url = recordings_url

    def work(self, request: Request, principal: Principal) -> Any:
        try:
            start = _bound(_arg(request, "from"), self.zone, end=False, what="from")
            end = _bound(_arg(request, "to"), self.zone, end=True, what="to")
        except ExportQueryError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        unit = _arg(request, "unit")
        status = _arg(request, "status")
        limit = _int_arg(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        after = _int_arg(request, "after", 0, 0, 2**62)
        d = self.db.run(self._query, principal, start, end, unit, status, limit, after)
        return d.addCallback(lambda body: write_json(request, 200, body))

    def _query(
        self,
        session: Session,
        principal: Principal,
        start: datetime | None,
        end: datetime | None,
        unit: str | None,
        status: str | None,
        limit: int,
        after: int,
    ) -> dict[str, Any]:
        allowed = _token_scope(session, principal)
        asked = unit_scope(session, unit)
        if allowed is not None and asked is not None and not set(asked) <= set(allowed):
            raise ScopeError(
                f"token {principal.name!r} (unit {principal.unit!r}) may not read unit {unit!r}"
            )
        rows = list(
            callback_rows(
                session,
                start=start,
                end=end,
                unit_ids=asked if asked is not None else allowed,
                status=status,
                after_id=after,
                limit=limit + 1,
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        out = []
        for row in rows:
            record = {key: row[key] for key in FIELDS if key != "recording_path"}
            if record["completed_at"] is not None:
                record["completed_at"] = record["completed_at"].astimezone(self.zone).isoformat()
            record["recording_id"] = row["recording_id"]
            record["recording_url"] = (
                f"{self.recordings_url}{row['recording_id']}" if row["recording_id"] else None
            )
            out.append(record)
        return {"callbacks": out, "next_after": rows[-1]["callback_id"] if more else None}


def _bound(text: str | None, zone: ZoneInfo, *, end: bool, what: str) -> datetime | None:
    return None if text is None else parse_bound(text, zone, end=end, what=what)


@dataclass(frozen=True)
class _Refusal:
    """Carries an error out of a transaction that must still commit (its audit row)."""

    error: Exception


@dataclass(frozen=True)
class _Found:
    path: str
    recording_id: int


class RecordingsResource(Resource):
    """``/api/v1/recordings``: only its children (``/{id}``) exist."""

    def __init__(
        self, db: DatabaseRunner, authenticate: Authenticate, recordings_dir: str | None = None
    ) -> None:
        super().__init__()
        self.db = db
        self.authenticate = authenticate
        self.recordings_dir = os.path.realpath(recordings_dir) if recordings_dir else None

    def getChild(self, path: bytes, request: Request) -> Resource:
        return RecordingResource(self, path.decode("utf-8", "replace"))

    def render_GET(self, request: Request) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return json.dumps({"error": "fetch one recording: /api/v1/recordings/{id}"}).encode("utf-8")


class RecordingResource(_JsonResource):
    """One recording's audio, streamed from disk (with Range support) after the scope check
    and the audit row."""

    isLeaf = True

    def __init__(self, parent: RecordingsResource, ident: str) -> None:
        super().__init__(parent.db, parent.authenticate)
        self.parent_resource = parent
        self.ident = ident

    def work(self, request: Request, principal: Principal) -> Any:
        if not self.ident.isdigit() or request.postpath not in ([], [b""]):
            raise ApiError(
                404, "not_found", f"recording {self.ident!r} does not exist (ids are numbers)"
            )
        peer = request.getClientAddress()
        remote = getattr(peer, "host", None)
        d = self.db.run(_fetch_and_audit, principal, int(self.ident), remote)
        return d.addCallback(self._send, request)

    def _send(self, found: _Found | _Refusal, request: Request) -> None:
        if isinstance(found, _Refusal):
            raise found.error
        if not _alive(request):
            return
        path = os.path.realpath(found.path)
        root = self.parent_resource.recordings_dir
        if root is not None and os.path.commonpath([root, path]) != root:
            log.error(
                "recording {id} points outside the recordings directory; refused",
                id=found.recording_id,
            )
            raise ApiError(
                404, "not_found", f"recording {found.recording_id} is not in the recordings store"
            )
        if not os.path.isfile(path):
            log.error("recording {id} is missing on disk", id=found.recording_id)
            raise ApiError(
                404, "not_found", f"recording {found.recording_id}: its audio file is missing"
            )
        filename = f"recording-{found.recording_id}{os.path.splitext(path)[1]}"
        request.setHeader(b"content-disposition", f'attachment; filename="{filename}"'.encode())
        request.setHeader(b"cache-control", b"no-store")
        from twisted.web.static import File  # imported late: its import warns on Twisted 26

        body = File(path, defaultType="application/octet-stream").render(request)
        if body is not NOT_DONE_YET:
            request.write(body)
            request.finish()


def _fetch_and_audit(
    session: Session, principal: Principal, recording_id: int, remote: str | None
) -> _Found | _Refusal:
    """Look the recording up, check the scope, and write the audit row for either verdict.

    A refusal is returned, not raised, so the transaction commits its audit row: a denied
    fetch leaves its trace too.
    """
    row = session.execute(
        sa.select(Recording, CallbackTask.id, Unit.id, Unit.code)
        .join(CallAttempt, CallAttempt.id == Recording.call_attempt_id)
        .join(CallbackTask, CallbackTask.id == CallAttempt.callback_id)
        .join(Unit, Unit.id == CallbackTask.unit_id)
        .where(Recording.id == recording_id)
    ).one_or_none()
    detail: dict[str, Any] = {"scope": principal.unit or "*", "remote": remote}
    if row is None:
        _audit(session, principal, "recording.not_found", recording_id, detail)
        return _Refusal(ApiError(404, "not_found", f"recording {recording_id} does not exist"))
    recording, task_id, unit_id, unit_code = row
    detail.update(callback_id=task_id, unit_code=unit_code)
    try:
        allowed = _token_scope(session, principal)
    except ScopeError as exc:
        _audit(session, principal, "recording.denied", recording_id, detail)
        return _Refusal(exc)
    if allowed is not None and unit_id not in allowed:
        _audit(session, principal, "recording.denied", recording_id, detail)
        return _Refusal(
            ScopeError(
                f"token {principal.name!r} (unit {principal.unit!r}) may not fetch recording "
                f"{recording_id} of unit {unit_code!r}"
            )
        )
    _audit(session, principal, "recording.fetch", recording_id, detail)
    return _Found(recording.path, recording.id)


def _audit(
    session: Session, principal: Principal, action: str, recording_id: int, detail: dict[str, Any]
) -> None:
    session.add(
        AuditEntry(
            actor=principal.name[:64],
            action=action,
            object_type="recording",
            object_id=str(recording_id),
            detail=detail,
        )
    )


def callback_api(
    db: DatabaseRunner,
    authenticate: Authenticate,
    zone: ZoneInfo,
    recordings_dir: str | None = None,
) -> dict[bytes, Resource]:
    """The children to ``putChild`` under ``/api/v1``: ``callbacks`` and ``recordings``."""
    return {
        b"callbacks": CallbacksResource(db, authenticate, zone),
        b"recordings": RecordingsResource(db, authenticate, recordings_dir),
    }
