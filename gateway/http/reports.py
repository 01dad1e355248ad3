"""Supervisors' report API under ``/api/v1/reports``: figures, the monthly ranking, per-officer
figures, and the report archive (listed and downloaded).

Who may read what is ``gateway.accounts.permissions``' answer (``report.read``, and
``report.officers`` for per-officer figures: the inspectorate's role, not a unit's machine
token): figures and archive downloads are unit-scoped (a unit's person or token sees its
subtree and the city-wide reports, 403 outside it); the ranking compares the units directly
under the city bureau, which the seed publishes to all of them, so anyone with
``report.read`` may read it. Thin resources: the rules are ``gateway.reports``',
the SQL the store's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.accounts import permissions as perm
from gateway.callbacks.export import ExportQueryError, parse_bound
from gateway.http.auth import Authenticate, Principal
from gateway.http.callbacks import ApiError, _arg
from gateway.http.responses import send_error, send_json
from gateway.http.routes import Outside, Route
from gateway.reports import compute
from gateway.reports.periods import Period, last_complete, period_of
from gateway.reports.settings import ReportSettings
from gateway.reports.store import ReportStore, subtree

log = Logger()

UNAUTHORIZED = "missing or unknown token: send 'Authorization: Bearer <token>'"
#: a 约谈 decision is a few dozen bytes; anything near this is not one
_MAX_DECISION = 64 * 1024
#: reports that list officers by name (the quarterly analysis' repeated officers): their files
#: are for the roles that may read per-officer figures
OFFICER_KINDS = frozenset({"quarter"})
CONTENT_TYPES = {
    "text": b"text/plain; charset=utf-8",
    "json": b"application/json; charset=utf-8",
    "csv": b"text/csv; charset=utf-8",
    "xlsx": b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "svg": b"image/svg+xml",
    "png": b"image/png",
}


class ReportApi:
    """What the report resources share: the store, its runner, settings and the checks."""

    def __init__(
        self,
        db: Any,
        store: ReportStore,
        settings: ReportSettings,
        authenticate: Authenticate,
    ) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.authenticate = authenticate

    def serve(self, request: Request, handler: Callable[..., Any]) -> Any:
        principal = self.authenticate(request)
        if principal is None:
            send_error(request, 401, UNAUTHORIZED)
            return NOT_DONE_YET
        try:
            d = defer.maybeDeferred(handler, request, principal)
        except ApiError as exc:  # pragma: no cover - maybeDeferred wraps it
            send_error(request, exc.status, exc.message)
            return NOT_DONE_YET
        d.addCallback(lambda answer: self._answer(request, answer))
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _answer(self, request: Request, answer: Any) -> None:
        if isinstance(answer, tuple):  # (content type, bytes, file name): a download
            ctype, body, name = answer
            request.setResponseCode(200)
            request.setHeader(b"content-type", ctype)
            request.setHeader(b"cache-control", b"no-store")
            disposition = f"attachment; filename*=UTF-8''{name}"
            request.setHeader(b"content-disposition", disposition.encode())
            request.write(body)
            request.finish()
        else:
            send_json(request, 200, answer)

    def _failed(self, failure: Failure, request: Request) -> None:
        error = failure.value
        if isinstance(error, ApiError):
            send_error(request, error.status, error.message)
        elif isinstance(error, compute.UnknownUnitError):
            send_error(request, 400, str(error))
        else:
            log.failure("report API request {uri} failed", failure, uri=request.uri)
            send_error(request, 500, "the server failed; see its log")

    def scoped_unit(
        self, tx: Any, principal: Principal, unit: str | None, action: str = perm.REPORT_READ
    ) -> tuple[str, set[str]]:
        """The unit asked for (default: the person's own, else the city) and the units the
        person may read, as ``gateway.accounts.permissions`` decides for ``action``."""
        units = self.store.units(tx)
        tree = perm.MappingUnitTree({u.code: u.parent for u in units})
        if unit is not None and unit not in tree:
            raise ApiError(400, f"unit {unit!r} does not exist")
        scope = perm.scope_units(principal, tree)
        chosen = unit or scope or compute.root_code(units) or ""
        decision = perm.check(principal, action, chosen, tree)
        if not decision:
            raise ApiError(403, decision.reason)
        allowed = {u.code for u in units} if scope is None else subtree(units, scope)
        return chosen, allowed

    def span(self, request: Request) -> tuple[datetime, datetime, Period]:
        zone = self.settings.zone
        start_text, end_text = _arg(request, "from"), _arg(request, "to")
        try:
            if start_text is None and end_text is None:
                month = period_of("month", datetime.now(UTC).astimezone(zone).date())
                start, end = month.bounds(zone)
                return start, end, month
            if start_text is None or end_text is None:
                raise ApiError(400, "give both 'from' and 'to', or neither (this month)")
            start = parse_bound(start_text, zone, end=False, what="from")
            end = parse_bound(end_text, zone, end=True, what="to")
        except ExportQueryError as exc:
            raise ApiError(400, str(exc)) from None
        if start >= end:
            raise ApiError(400, "'from' must be earlier than 'to'")
        first = start.astimezone(zone).date()
        after = end.astimezone(zone).date()
        return (
            start,
            end,
            Period("period", first, max(after, date.fromordinal(first.toordinal() + 1))),
        )


class FiguresResource(Resource):
    """``GET /api/v1/reports/figures?unit=&from=&to=``: one unit's figures (its subtree)."""

    isLeaf = True
    routes = (
        Route(
            "GET",
            "/api/v1/reports/figures",
            "unit",
            "Figures of a unit and period",
            outside=Outside(query="unit={foreign_unit}"),
        ),
    )

    def __init__(self, api: ReportApi) -> None:
        super().__init__()
        self.api = api

    def render_GET(self, request: Request) -> Any:
        return self.api.serve(request, self._figures)

    def _figures(self, request: Request, principal: Principal) -> Any:
        unit = _arg(request, "unit")
        start, end, period = self.api.span(request)
        formula = self.api.settings.satisfaction

        def read(tx: Any) -> dict[str, Any]:
            code, _ = self.api.scoped_unit(tx, principal, unit)
            figs = self.api.store.figures(tx, start, end, [code])[code]
            return {
                "unit": code,
                "from": period.first.isoformat(),
                "to": period.last.isoformat(),
                "formula": formula.describe(),
                "figures": figs.as_dict(formula),
            }

        return self.api.db.run(read)


class RankingResource(Resource):
    """``GET /api/v1/reports/ranking?month=YYYY-MM``: the ranking group's ranking (default:
    last month), with sample sizes, intervals, ties, 样本不足 and the 约谈 records."""

    isLeaf = True
    routes = (Route("GET", "/api/v1/reports/ranking", "token", "The monthly ranking"),)

    def __init__(self, api: ReportApi) -> None:
        super().__init__()
        self.api = api

    def render_GET(self, request: Request) -> Any:
        return self.api.serve(request, self._ranking)

    def _ranking(self, request: Request, principal: Principal) -> Any:
        decision = perm.may(principal, perm.REPORT_READ)
        if not decision:
            raise ApiError(403, decision.reason)
        text = _arg(request, "month")
        settings = self.api.settings
        if text is None:
            month = last_complete("month", datetime.now(UTC), settings.zone)
        else:
            try:
                month = period_of("month", date.fromisoformat(text + "-01"))
            except ValueError:
                raise ApiError(400, f"month={text!r}: expected YYYY-MM") from None

        def read(tx: Any) -> dict[str, Any]:
            outcome = compute.month_outcome(self.api.store, tx, month, settings)
            records = self.api.store.interviews(tx, month.key)
            return {
                "month": month.key,
                "formula": settings.satisfaction.describe(),
                "min_sample": settings.min_sample,
                "ranking": [
                    {
                        "unit_code": r.unit_code,
                        "unit_name": r.unit_name,
                        "rank": r.rank,
                        "rank_label": r.rank_label,
                        "tied": r.tied,
                        "last": r.last,
                        "sample": r.sample,
                        "rate": r.rate,
                        "interval": list(r.interval) if r.interval else None,
                    }
                    for r in outcome.rows
                ],
                "interviews": [
                    {
                        "id": i.id,
                        "unit_code": i.unit_code,
                        "kind": i.kind,
                        "interviewees": list(i.interviewees),
                        "deduction": i.deduction,
                        "status": i.status,
                    }
                    for i in records
                ],
            }

        return self.api.db.run(read)


class OfficersResource(Resource):
    """``GET /api/v1/reports/officers?unit=&from=&to=``: per-officer figures, for the roles
    ``may_see_officers`` allows."""

    isLeaf = True
    routes = (
        Route(
            "GET",
            "/api/v1/reports/officers",
            "unit",
            "Per-officer figures (restricted)",
            outside=Outside(query="unit={foreign_unit}"),
        ),
    )

    def __init__(self, api: ReportApi) -> None:
        super().__init__()
        self.api = api

    def render_GET(self, request: Request) -> Any:
        return self.api.serve(request, self._officers)

    def _officers(self, request: Request, principal: Principal) -> Any:
        unit = _arg(request, "unit")
        start, end, period = self.api.span(request)
        formula = self.api.settings.satisfaction

        def read(tx: Any) -> dict[str, Any]:
            code, _ = self.api.scoped_unit(tx, principal, unit, perm.REPORT_OFFICERS)
            rows = self.api.store.officer_figures(tx, start, end, code)
            return {
                "unit": code,
                "from": period.first.isoformat(),
                "to": period.last.isoformat(),
                "officers": [
                    {"police_number": n, "name": name, "figures": f.as_dict(formula)}
                    for n, name, f in rows
                ],
            }

        return self.api.db.run(read)


class ArchiveResource(Resource):
    """``GET /api/v1/reports/archive?kind=`` lists the archive; ``.../archive/{id}`` downloads
    one file. A unit's token sees the city-wide reports and its subtree's own."""

    routes = (
        Route("GET", "/api/v1/reports/archive", "token", "List archived reports"),
        Route(
            "GET",
            "/api/v1/reports/archive/{id}",
            "unit",
            "Download an archived report",
            example_path="/api/v1/reports/archive/1",
            outside=Outside(path="/api/v1/reports/archive/{foreign_report}"),
        ),
    )

    def __init__(self, api: ReportApi) -> None:
        super().__init__()
        self.api = api

    def getChild(self, path: bytes, request: Request) -> Resource:
        return ArchivedFileResource(self.api, path.decode("utf-8", "replace"))

    def render_GET(self, request: Request) -> Any:
        return self.api.serve(request, self._list)

    def _list(self, request: Request, principal: Principal) -> Any:
        kind = _arg(request, "kind")

        def read(tx: Any) -> dict[str, Any]:
            _, allowed = self.api.scoped_unit(tx, principal, None)
            officers = bool(perm.may(principal, perm.REPORT_OFFICERS))
            files = [
                r
                for r in self.api.store.archived(tx, kind)
                if (not r.unit_code or r.unit_code in allowed)
                and (officers or r.kind not in OFFICER_KINDS)
            ]
            return {
                "reports": [
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "period": r.period_key,
                        "unit_code": r.unit_code,
                        "format": r.fmt,
                        "name": Path(r.path).name,
                        "size_bytes": r.size_bytes,
                        "sha256": r.sha256,
                        "created_at": r.created_at.isoformat(),
                        "url": f"/api/v1/reports/archive/{r.id}",
                    }
                    for r in files
                ]
            }

        return self.api.db.run(read)


class ArchivedFileResource(Resource):
    isLeaf = True

    def __init__(self, api: ReportApi, ident: str) -> None:
        super().__init__()
        self.api = api
        self.ident = ident

    def render_GET(self, request: Request) -> Any:
        return self.api.serve(request, self._download)

    def _download(self, request: Request, principal: Principal) -> Any:
        if not self.ident.isdigit():
            raise ApiError(404, "no such report")

        def read(tx: Any) -> tuple[bytes, bytes, str]:
            _, allowed = self.api.scoped_unit(tx, principal, None)
            record = self.api.store.archived_one(tx, int(self.ident))
            if record is None:
                raise ApiError(404, "no such report")
            if record.unit_code and record.unit_code not in allowed:
                raise ApiError(403, f"token {principal.name!r} may not read report {record.id}")
            if record.kind in OFFICER_KINDS:
                decision = perm.may(principal, perm.REPORT_OFFICERS)
                if not decision:
                    raise ApiError(403, f"report {record.id} names officers: {decision.reason}")
            path = Path(record.path)
            try:
                body = path.read_bytes()
            except OSError:
                raise ApiError(410, f"report {record.id}'s file is gone from the archive") from None
            ctype = CONTENT_TYPES.get(record.fmt, b"application/octet-stream")
            return ctype, body, path.name

        return self.api.db.run(read)


class InterviewsResource(Resource):
    """``GET /api/v1/reports/interviews?month=`` lists the 约谈 records the rankings proposed;
    ``POST /api/v1/reports/interviews/{id}`` with ``{"decision": "confirmed"|"dismissed"}``
    decides one (``ladder.decide``, within the deciding person's units); deciding twice changes
    nothing (the first decision is returned, 409)."""

    routes = (
        Route("GET", "/api/v1/reports/interviews", "token", "List 约谈 records"),
        Route(
            "POST",
            "/api/v1/reports/interviews/{id}",
            "unit",
            "Confirm or dismiss a proposed 约谈",
            example_path="/api/v1/reports/interviews/1",
            outside=Outside(
                path="/api/v1/reports/interviews/{foreign_interview}",
                body={"decision": "confirmed"},
            ),
        ),
    )

    def __init__(self, api: ReportApi) -> None:
        super().__init__()
        self.api = api

    def getChild(self, path: bytes, request: Request) -> Resource:
        return InterviewResource(self.api, path.decode("utf-8", "replace"))

    def render_GET(self, request: Request) -> Any:
        return self.api.serve(request, self._list)

    def _list(self, request: Request, principal: Principal) -> Any:
        decision = perm.may(principal, perm.REPORT_READ)
        if not decision:
            raise ApiError(403, decision.reason)
        month = _arg(request, "month")

        def read(tx: Any) -> dict[str, Any]:
            return {"interviews": [_interview(i) for i in self.api.store.interviews(tx, month)]}

        return self.api.db.run(read)


def _interview(i: Any) -> dict[str, Any]:
    return {
        "id": i.id,
        "unit_code": i.unit_code,
        "month": i.month,
        "kind": i.kind,
        "interviewees": list(i.interviewees),
        "deduction": i.deduction,
        "status": i.status,
        "decided_by": i.decided_by,
        "decided_at": i.decided_at.isoformat() if i.decided_at else None,
    }


class InterviewResource(Resource):
    isLeaf = True

    def __init__(self, api: ReportApi, ident: str) -> None:
        super().__init__()
        self.api = api
        self.ident = ident

    def render_POST(self, request: Request) -> Any:
        return self.api.serve(request, self._decide)

    def _decide(self, request: Request, principal: Principal) -> Any:
        import json

        if not self.ident.isdigit():
            raise ApiError(404, "no such 约谈 record")
        raw = request.content.read(_MAX_DECISION + 1)
        if len(raw) > _MAX_DECISION:
            raise ApiError(413, f"the body is larger than {_MAX_DECISION} bytes")
        try:
            body = json.loads(raw or b"{}")
        except UnicodeDecodeError as exc:
            raise ApiError(400, f"the body is not UTF-8 (at byte {exc.start})") from None
        except ValueError as exc:
            raise ApiError(400, f"the body is not JSON: {exc}") from None
        except RecursionError:
            raise ApiError(400, "the body is nested too deeply to read") from None
        decision = body.get("decision") if isinstance(body, dict) else None
        if decision not in ("confirmed", "dismissed"):
            raise ApiError(400, "'decision' must be 'confirmed' or 'dismissed'")
        now = datetime.now(UTC)

        def write(tx: Any) -> dict[str, Any]:
            record = next(
                (i for i in self.api.store.interviews(tx) if i.id == int(self.ident)), None
            )
            if record is None:
                raise ApiError(404, "no such 约谈 record")
            units = self.api.store.units(tx)
            tree = perm.MappingUnitTree({u.code: u.parent for u in units})
            allowed = perm.check(principal, perm.LADDER_DECIDE, record.unit_code, tree)
            if not allowed:
                raise ApiError(403, allowed.reason)
            if record.status != "proposed":
                raise ApiError(409, f"约谈 record {record.id} is already {record.status}")
            done = self.api.store.decide_interview(tx, record.id, decision, principal.name, now)
            return _interview(done)

        return self.api.db.run(write)


def report_api(api: ReportApi) -> Resource:
    """The ``reports`` node to ``putChild`` under ``/api/v1``."""
    from gateway.http.api import ApiNode

    node = ApiNode()
    node.putChild(b"figures", FiguresResource(api))
    node.putChild(b"ranking", RankingResource(api))
    node.putChild(b"officers", OfficersResource(api))
    node.putChild(b"archive", ArchiveResource(api))
    node.putChild(b"interviews", InterviewsResource(api))
    return node
