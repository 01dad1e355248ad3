"""The read-only pages: dashboard, surveys, callback results, the audit log."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from typing import Any

from twisted.internet import defer
from twisted.web.server import Request

from gateway.console.access import ForbiddenError, may_read_audit
from gateway.console.charts import trend_chart
from gateway.console.sessions import Session
from gateway.console.store import (
    CALLBACK_STATUSES,
    RATINGS,
    SURVEY_STATUSES,
    AuditQuery,
    SurveyQuery,
)
from gateway.console.web import BadRequestError, Html, Page, arg, int_arg, query_string
from gateway.http.store import CallbackQuery

PAGE_SIZE = 50
TREND_MONTHS = 12


def month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


class Dashboard(Page):
    def get(self, request: Request, session: Session) -> defer.Deferred[Html]:
        console = self.console
        today = console.now().date()
        zone = console.zone

        def at(day: date) -> datetime:
            return datetime.combine(day, time(0), tzinfo=zone)

        months = [month_start(today, back) for back in range(TREND_MONTHS - 1, -1, -1)]
        periods = [(at(today), at(today + timedelta(days=1)))]
        bounds = [*months, month_start(today, -1)]
        periods += [(at(a), at(b)) for a, b in itertools.pairwise(bounds)]
        d = console.scope(session.user)
        d.addCallback(lambda units: console.store.figures(units, periods))

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

        return self.console.scope(session.user, f["unit"]).addCallback(run)

    def get(self, request: Request, session: Session) -> defer.Deferred[Html]:
        return listing(self, request, session, "callbacks.html", "回访结果", "callback_id")


def listing(
    page: Any, request: Request, session: Session, template: str, title: str, key: str
) -> defer.Deferred[Html]:
    filters = page.filters(request)
    d = page.query(request, session, PAGE_SIZE)
    units = page.console.scope(session.user).addCallback(page.console.store.units)

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
        if not may_read_audit(session.user):
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
