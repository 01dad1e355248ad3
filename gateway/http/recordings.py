"""``GET /api/v1/recordings/{id}``: a callback's recorded voice message, audited request by request.

Every request under ``/api/v1/recordings`` writes exactly one ``audit_log`` row before it is
answered, whose action says what happened (:data:`ACTIONS`; ``docs/audit.md`` lists the same):
``recording.served``, ``recording.denied`` (403), ``recording.not_found`` (404: no such id, or
its file is missing or outside the folder), ``recording.unauthenticated`` (401, the actor is
``anonymous``) and ``recording.malformed`` (not ``GET /api/v1/recordings/{number}``: 404, 405).

The row carries the actor (the token's name, never the token), the client's address and the
reason. When the row cannot be written nothing is served (503): no fetch goes unrecorded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.http.auth import Authenticate, Principal
from gateway.http.responses import alive, error_body, send_error
from gateway.http.routes import Outside, Route
from gateway.http.store import ApiStore, AuditRecord, RecordingTarget, UnitIds
from gateway.masking import shown

log = Logger()

SERVED = "recording.served"
DENIED = "recording.denied"
NOT_FOUND = "recording.not_found"
UNAUTHENTICATED = "recording.unauthenticated"
MALFORMED = "recording.malformed"
ANONYMOUS = "anonymous"

#: Every audit action of this resource and what it means (``docs/audit.md`` lists the same).
ACTIONS = {
    SERVED: "the audio was sent to the actor",
    DENIED: "the actor's token does not cover the recording's unit (403)",
    NOT_FOUND: "no such recording, or its audio file is missing or outside the folder (404)",
    UNAUTHENTICATED: "no bearer token, or one that is not configured (401)",
    MALFORMED: "not GET /api/v1/recordings/{number} (404 or 405)",
}


@dataclass(frozen=True)
class Verdict:
    """What to answer and what to record."""

    action: str
    status: int
    message: str
    reason: str = ""
    target: RecordingTarget | None = None


def client_address(request: Request) -> str | None:
    return getattr(request.getClientAddress(), "host", None)


def presented_credentials(request: Request) -> str:
    """What the client offered, for the audit row; never the token itself."""
    header = request.getHeader("authorization") or ""
    if not header:
        return "none"
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return f"{scheme[:16] or 'empty'} credentials, not a bearer token"
    return "an unknown bearer token"


def decide(
    principal: Principal,
    recording_id: int,
    target: RecordingTarget | None,
    allowed: UnitIds,
    root: str | None,
) -> Verdict:
    """The verdict on a well-formed, authenticated request, the file checked last."""
    if target is None:
        return Verdict(NOT_FOUND, 404, f"recording {recording_id} does not exist", "no such id")
    if allowed is not None and not allowed:
        message = (
            f"token {principal.name!r} is scoped to unit {principal.unit!r}, which does not exist"
        )
        return Verdict(DENIED, 403, message, "the token's unit does not exist", target)
    if allowed is not None and target.unit_id not in allowed:
        message = (
            f"token {principal.name!r} (unit {principal.unit!r}) may not fetch recording "
            f"{recording_id} of unit {target.unit_code!r}"
        )
        return Verdict(DENIED, 403, message, "outside the token's units", target)
    path = os.path.realpath(target.path)
    if root is not None and os.path.commonpath([root, path]) != root:
        message = f"recording {recording_id} is not in the recordings store"
        return Verdict(NOT_FOUND, 404, message, "its path is outside the recordings folder", target)
    if not os.path.isfile(path):
        message = f"recording {recording_id}: its audio file is missing"
        return Verdict(NOT_FOUND, 404, message, "its audio file is missing", target)
    return Verdict(SERVED, 200, "", "", target)


class RecordingsResource(Resource):
    """``/api/v1/recordings``: only its children (``/{id}``) exist; asking for the folder
    itself is a malformed request, audited as such."""

    routes = (
        Route(
            "GET",
            "/api/v1/recordings/{id}",
            "unit",
            "Fetch a callback's recorded voice message",
            example_path="/api/v1/recordings/1",
            outside=Outside(path="/api/v1/recordings/{foreign_recording}"),
        ),
    )

    def __init__(
        self, store: ApiStore, authenticate: Authenticate, recordings_dir: str | None = None
    ) -> None:
        super().__init__()
        self.store = store
        self.authenticate = authenticate
        self.recordings_dir = os.path.realpath(recordings_dir) if recordings_dir else None

    def getChild(self, path: bytes, request: Request) -> Resource:
        return RecordingResource(self, path.decode("utf-8", "replace"))

    def render(self, request: Request) -> Any:
        return RecordingResource(self, None).render(request)


class RecordingResource(Resource):
    """One recording's audio, streamed from disk (with Range support) after the audit row."""

    isLeaf = True

    def __init__(self, parent: RecordingsResource, ident: str | None) -> None:
        super().__init__()
        self.parent_resource = parent
        self.ident = ident

    def render(self, request: Request) -> Any:
        """Every method comes here, so that every request leaves its audit row."""
        parent = self.parent_resource
        principal = parent.authenticate(request)
        detail: dict[str, Any] = {"remote": client_address(request), "method": _method(request)}
        if principal is None:
            detail["credentials"] = presented_credentials(request)
            verdict = Verdict(
                UNAUTHENTICATED,
                401,
                "missing or unknown token: send 'Authorization: Bearer <token>'",
                "no valid bearer token",
            )
            return self._record(request, ANONYMOUS, verdict, detail)
        detail["scope"] = principal.unit or "*"
        malformed = self._malformed(request)
        if malformed is not None:
            return self._record(request, principal.name, malformed, detail)
        recording_id = int(self.ident or "0")
        d = parent.store.recording(recording_id)
        if principal.unit:
            d.addCallback(
                lambda target: parent.store.subtrees([principal.unit]).addCallback(
                    lambda trees: (target, trees[principal.unit])
                )
            )
        else:
            d.addCallback(lambda target: (target, None))
        d.addCallback(
            lambda found: decide(principal, recording_id, found[0], found[1], parent.recordings_dir)
        )
        d.addCallback(lambda verdict: self._record(request, principal.name, verdict, detail))
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _malformed(self, request: Request) -> Verdict | None:
        ident = self.ident
        text = shown(ident) if ident is not None else "(none)"
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET, HEAD")
            return Verdict(MALFORMED, 405, "use GET to fetch a recording", "method not allowed")
        if ident is None or ident == "":
            return Verdict(
                MALFORMED, 404, "fetch one recording: /api/v1/recordings/{id}", "no recording id"
            )
        if not ident.isdigit() or len(ident) > 18 or request.postpath not in ([], [b""]):
            message = f"recording {text} does not exist (ids are numbers)"
            return Verdict(MALFORMED, 404, message, "the id is not a number")
        return None

    def _record(
        self, request: Request, actor: str, verdict: Verdict, detail: dict[str, Any]
    ) -> Any:
        """Write the audit row, then answer; answer 503 (and serve nothing) if it fails."""
        record_detail = {**detail, "status": verdict.status}
        if verdict.reason:
            record_detail["reason"] = verdict.reason
        if verdict.target is not None:
            record_detail["callback_id"] = verdict.target.callback_id
            record_detail["unit_code"] = verdict.target.unit_code
        object_id = self.ident if self.ident else None
        record = AuditRecord(actor, verdict.action, "recording", object_id, record_detail)
        d = self.parent_resource.store.audit(record)
        d.addCallback(lambda _: self._answer(request, verdict))
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _answer(self, request: Request, verdict: Verdict) -> None:
        if not alive(request):
            return
        if verdict.action != SERVED or verdict.target is None:
            if verdict.status == 404 and verdict.target is not None:
                log.error(
                    "recording {id}: {reason}; refused",
                    id=verdict.target.recording_id,
                    reason=verdict.reason,
                )
            request.write(error_body(request, verdict.status, verdict.message))
            request.finish()
            return
        target = verdict.target
        path = os.path.realpath(target.path)
        filename = f"recording-{target.recording_id}{os.path.splitext(path)[1]}"
        request.setHeader(b"content-disposition", f'attachment; filename="{filename}"'.encode())
        request.setHeader(b"cache-control", b"no-store")
        from twisted.web.static import File  # imported late: its import warns on Twisted 26

        body = File(path, defaultType="application/octet-stream").render(request)
        if body is not NOT_DONE_YET:
            request.write(body)
            request.finish()

    def _failed(self, failure: Failure, request: Request) -> None:
        log.failure("recording request {uri} failed", failure, uri=request.uri)
        send_error(request, 503, "the audit log or the database is unavailable; retry later")


def _method(request: Request) -> str:
    return (request.method or b"").decode("ascii", "replace")[:16]
