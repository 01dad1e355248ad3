"""The read-only pages: dashboard, surveys, callback results, the audit log."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.web.server import Request

from gateway.accounts import permissions as perm
from gateway.console.access import ForbiddenError
from gateway.console.charts import trend_chart
from gateway.console.sessions import Session
from gateway.console.store import (
    CALLBACK_STATUSES,
    RATINGS,
    SURVEY_STATUSES,
    AuditQuery,
    SurveyQuery,
)
from gateway.console.trend import trend_spans
from gateway.console.web import BadRequestError, Html, Page, arg, int_arg, query_string
from gateway.http.store import CallbackQuery

PAGE_SIZE = 50
TREND_CACHE_SECONDS = 3600


class Dashboard(Page):
    def get(self, request: Request, session: Session) -> defer.Deferred[Html]:
        console = self.console
        today = console.now().date()
        months, spans, day = trend_spans(today, console.zone)
        cache = console.trend_cache

        def fetch(units: Any) -> Any:
            # Earlier months hardly change: they come from the rollup of every unit
            # (gateway.console.trend), else from this scope's cache (an hour at most); today
            # and this month are always read.
            now = console.clock.seconds()
            rolled = console.trend_rollup.figures(units, spans[:-1], now)
            if rolled is not None:
                d1 = console.store.figures(units, [day, spans[-1]])
                return d1.addCallback(lambda f: [f[0], *rolled, f[1]])
            console.trend_rollup.refresh(console.store, spans[:-1], now)  # in the background
            key = None if units is None else tuple(sorted(units))
            past = {
                span: cache[(key, span)][1]
                for span in spans[:-1]
                if (key, span) in cache and now - cache[(key, span)][0] < TREND_CACHE_SECONDS
            }
            missing = [span for span in spans[:-1] if span not in past]

            def merge(figures: list[Any]) -> list[Any]:
                for span, fig in zip(missing, figures[2:], strict=True):
                    cache[(key, span)] = (now, fig)
                    past[span] = fig
                return [figures[0], *(past[span] for span in spans[:-1]), figures[1]]

            d2 = console.store.figures(units, [day, spans[-1], *missing])
            return d2.addCallback(merge)

        d = console.scope(session.user).addCallback(fetch)

        def show(figures: list[Any]) -> Html:
            today_f, trend = figures[0], figures[1:]
            month_f = trend[-1]
            return Html(
                "dashboard.html",
                {
                    "title": "工作台",
                    "today": today_f,
                    "month": month_f,
                    "chart": trend_chart(months, trend),
                    "waiting": waiting(session.user.role, month_f),
                    "day": today,
                },
            )

        return d.addCallback(show)


def waiting(role: str, month: Any) -> list[tuple[str, int, str]]:
    """``(what, how many, link)`` that the role should act on."""
    if role == "inspector":
        return [
            ("超期未回访", month.callbacks_overdue, "callbacks?status=pending"),
            ("本月不满意评价", month.unsatisfied, "surveys?rating=unsatisfied"),
        ]
    if role == "handler":
        return [
            ("待回访（含转人工）", month.callbacks_due, "callbacks?status=pending"),
            ("其中超期", month.callbacks_overdue, "callbacks?status=pending"),
        ]
    return []


def _choice(request: Request, name: str, allowed: dict[str, str]) -> str | None:
    value = arg(request, name)
    if value is not None and value not in allowed:
        raise BadRequestError(f"{name} 的取值不正确：{value}")
    return value


class SurveyList(Page):
    """Surveys in scope, filtered by unit, dates, status and rating; paged by id."""

    action = perm.REPORT_READ

    def filters(self, request: Request) -> dict[str, Any]:
        return {
            "unit": arg(request, "unit"),
            "from": arg(request, "from"),
            "to": arg(request, "to"),
            "status": _choice(request, "status", SURVEY_STATUSES),
            "rating": _choice(request, "rating", RATINGS),
        }

    def query(self, request: Request, session: Session, limit: int) -> defer.Deferred[Any]:
        f = self.filters(request)
        start = self.console.parse_day(f["from"], end=False, what="from")
        end = self.console.parse_day(f["to"], end=True, what="to")
        after = int_arg(request, "after")

        def run(units: Any) -> Any:
            query = SurveyQuery(units, start, end, f["status"], f["rating"], after, limit + 1)
            return self.console.store.surveys(query)

        return self.console.scope(session.user, f["unit"]).addCallback(run)

    def get(self, request: Request, session: Session) -> defer.Deferred[Html]:
        return listing(self, request, session, "surveys.html", "评价记录", "survey_id")


class CallbackList(Page):
    """Callback results in scope (the API's query), with the recording player."""

    action = perm.CALLBACKS_READ

    def filters(self, request: Request) -> dict[str, Any]:
        return {
            "unit": arg(request, "unit"),
            "from": arg(request, "from"),
            "to": arg(request, "to"),
            "status": _choice(request, "status", CALLBACK_STATUSES),
        }

    def query(self, request: Request, session: Session, limit: int) -> defer.Deferred[Any]:
        f = self.filters(request)
        start = self.console.parse_day(f["from"], end=False, what="from")
        end = self.console.parse_day(f["to"], end=True, what="to")
        after = int_arg(request, "after")

        def run(units: Any) -> Any:
            query = CallbackQuery(units, start, end, f["status"], after, limit + 1)
            return self.console.store.callbacks(query)

        scope = self.console.scope(session.user, f["unit"], self.action)
        return scope.addCallback(run)

    def get(self, request: Request, session: Session) -> defer.Deferred[Html]:
        return listing(self, request, session, "callbacks.html", "回访结果", "callback_id")


def listing(
    page: Any, request: Request, session: Session, template: str, title: str, key: str
) -> defer.Deferred[Html]:
    filters = page.filters(request)
    d = page.query(request, session, PAGE_SIZE)
    units = page.console.scope(session.user, None, page.action)
    units.addCallback(page.console.store.units)

    def show(results: list[Any]) -> Html:
        rows, unit_choices = results
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        next_link = query_string({**filters, "after": rows[-1][key]}) if more else None
        return Html(
            template,
            {
                "title": title,
                "rows": rows,
                "filters": filters,
                "units": unit_choices,
                "next_link": next_link,
                "first_link": query_string(filters) if int_arg(request, "after") else None,
                "export_query": query_string(filters),
            },
        )

    both = defer.gatherResults([d, units], consumeErrors=True)
    both.addErrback(lambda f: f.value.subFailure)
    return both.addCallback(show)


class AuditLog(Page):
    """The audit log, newest first: the inspectorate's alone."""

    def get(self, request: Request, session: Session) -> defer.Deferred[Html]:
        tree = getattr(request, "unit_tree", None)
        if tree is None or not perm.check(session.user, perm.AUDIT_READ, None, tree):
            raise ForbiddenError("审计日志仅限督察部门查看")
        filters = {"actor": arg(request, "actor"), "action": arg(request, "action")}
        before = int_arg(request, "before") or None
        query = AuditQuery(filters["actor"], filters["action"], before, PAGE_SIZE + 1)

        def show(rows: list[Any]) -> Html:
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            next_link = query_string({**filters, "before": rows[-1]["id"]}) if more else None
            return Html(
                "audit.html",
                {"title": "审计日志", "rows": rows, "filters": filters, "next_link": next_link},
            )

        return self.console.store.audit_rows(query).addCallback(show)
