"""Supervisors' callback API: ``GET /api/v1/callbacks`` (and, mounted beside it, the recordings).

A thin twisted.web resource: it authenticates, parses the filters, narrows them to the token's
scope and asks the :class:`~gateway.http.store.ApiStore` for the records ``pingjing export
callbacks`` prints (:mod:`gateway.callbacks.export`); it holds no SQL. Scope: a token without a
unit (the inspectorate) sees every unit; a unit's token sees that unit and the units below it,
and asking for anything else is a 403 naming what was refused.

Mount them with :func:`callback_api` (``putChild`` the returned children on the ``v1`` node of
``gateway.http.api.build_api``). Errors have the API's shape, ``{"error": "<what was wrong>"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.callbacks.export import FIELDS, ExportQueryError, parse_bound
from gateway.http.auth import Authenticate, Principal
from gateway.http.recordings import RecordingsResource
from gateway.http.responses import send_error, send_json
from gateway.http.routes import Outside, Route
from gateway.http.store import ApiStore, CallbackQuery, UnitIds, UnknownFilterError

log = Logger()

UNAUTHORIZED = "missing or unknown token: send 'Authorization: Bearer <token>'"
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class ApiError(Exception):
    """What to answer instead: a status and the message of ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _arg(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"query parameter {name!r} is given more than once")
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"query parameter {name!r} is not UTF-8") from None


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = _arg(request, name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, f"query parameter {name!r}={raw!r} must be {low}..{high}")
    return int(raw)


def _bound(request: Request, name: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    text = _arg(request, name)
    if text is None:
        return None
    try:
        return parse_bound(text, zone, end=end, what=name)
    except ExportQueryError as exc:
        raise ApiError(400, str(exc)) from None


def scope_of(principal: Principal, trees: dict[str, UnitIds]) -> UnitIds:
    """The unit ids a token may see (``None``: all); a token naming an unknown unit is refused."""
    if not principal.unit:
        return None
    allowed = trees[principal.unit]
    if not allowed:
        raise ApiError(
            403,
            f"token {principal.name!r} is scoped to unit {principal.unit!r}, which does not exist",
        )
    return allowed


class CallbacksResource(Resource):
    """``GET /api/v1/callbacks?from=&to=&unit=&status=&limit=&after=``.

    Answers ``{"callbacks": [...], "next_after": id | null}``; pass ``next_after`` as
    ``after`` for the next page.
    """

    isLeaf = True
    routes = (
        Route(
            "GET",
            "/api/v1/callbacks",
            "unit",
            "List callback results",
            outside=Outside(query="unit={foreign_unit}"),
        ),
    )

    def __init__(
        self,
        store: ApiStore,
        authenticate: Authenticate,
        zone: ZoneInfo,
        recordings_url: str = "/api/v1/recordings/",
    ) -> None:
        super().__init__()
        self.store = store
        self.authenticate = authenticate
        self.zone = zone
        self.recordings_url = recordings_url

    def render_GET(self, request: Request) -> Any:
        principal = self.authenticate(request)
        if principal is None:
            send_error(
                request, 401, "missing or unknown token: send 'Authorization: Bearer <token>'"
            )
            return NOT_DONE_YET
        try:
            d = self._list(request, principal)
        except ApiError as exc:
            send_error(request, exc.status, exc.message)
            return NOT_DONE_YET
        d.addCallback(lambda body: send_json(request, 200, body))
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _list(self, request: Request, principal: Principal) -> defer.Deferred[dict[str, Any]]:
        start = _bound(request, "from", self.zone, end=False)
        end = _bound(request, "to", self.zone, end=True)
        if start is not None and end is not None and start >= end:
            shown = f"from={_arg(request, 'from')!r}, to={_arg(request, 'to')!r}"
            raise ApiError(400, f"{shown}: 'from' must be earlier than 'to'")
        unit = _arg(request, "unit")
        status = _arg(request, "status")
        limit = _int_arg(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        after = _int_arg(request, "after", 0, 0, 2**62)
        codes = [c for c in (principal.unit, unit) if c]

        def narrowed(trees: dict[str, UnitIds]) -> defer.Deferred[list[dict[str, Any]]]:
            allowed = scope_of(principal, trees)
            asked = trees[unit] if unit else None
            if asked is not None and not asked:
                raise ApiError(400, f"unit {unit!r} does not exist")
            if allowed is not None and asked is not None and not asked <= allowed:
                raise ApiError(
                    403,
                    f"token {principal.name!r} (unit {principal.unit!r}) may not read unit "
                    f"{unit!r}",
                )
            query = CallbackQuery(
                unit_ids=asked if asked is not None else allowed,
                start=start,
                end=end,
                status=status,
                after=after,
                limit=limit + 1,
            )
            return self.store.callbacks(query)

        d = self.store.subtrees(codes)
        d.addCallback(narrowed)
        d.addCallback(self._page, limit)
        return d

    def _page(self, rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
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

    def _failed(self, failure: Failure, request: Request) -> None:
        error = failure.value
        if isinstance(error, ApiError):
            send_error(request, error.status, error.message)
        elif isinstance(error, UnknownFilterError):
            send_error(request, 400, str(error))
        else:
            log.failure("callback API request {uri} failed", failure, uri=request.uri)
            send_error(request, 500, "the server failed; see its log")


def callback_api(
    store: ApiStore,
    authenticate: Authenticate,
    zone: ZoneInfo,
    recordings_dir: str | None = None,
) -> dict[bytes, Resource]:
    """The children to ``putChild`` under ``/api/v1``: ``callbacks`` and ``recordings``."""
    return {
        b"callbacks": CallbacksResource(store, authenticate, zone),
        b"recordings": RecordingsResource(store, authenticate, recordings_dir),
    }
