"""The ranking and the reports archive in the console.

They ask the report API's own handlers (``gateway.http.reports``) with the signed-in user as
the principal, so what a user may read is decided by the same code
(``gateway.accounts.permissions``) and the figures come from the same store.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from twisted.internet import defer
from twisted.web.server import Request

from gateway.console.access import ForbiddenError
from gateway.console.sessions import Session
from gateway.console.web import BadRequestError, Download, Html, Page

KIND_LABELS = {
    "daily": "日报",
    "monthly": "月报",
    "quarterly": "季度分析",
    "yearly": "年报",
    "month": "月报",
    "day": "日报",
    "quarter": "季度分析",
    "year": "年报",
}


def _api_errors(failure: Any) -> Any:
    from gateway.http.callbacks import ApiError

    error = failure.value
    if isinstance(error, ApiError):
        if error.status == 403:
            raise ForbiddenError("无权查看：" + error.message)
        if error.status == 404:
            return Html("error.html", {"message": "报表不存在"}, 404)
        raise BadRequestError(error.message)
    return failure


def _api(page: Page) -> Any:
    if page.console.reports is None:
        raise ForbiddenError("报表功能未启用")
    return page.console.reports


def ranking_chart(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Horizontal bars: each unit's satisfaction rate, 0-100 %, 400 px wide."""
    bars = []
    for i, row in enumerate(rows):
        rate = row.get("rate")
        bars.append(
            {
                "y": 8 + i * 26,
                "width": round(400 * rate, 1) if rate else 0,
                "label": row["unit_name"],
                "rate": rate,
                "last": row["last"],
            }
        )
    return bars


class RankingPage(Page):
    def get(self, request: Request, session: Session) -> Any:
        from gateway.http.reports import RankingResource

        d = defer.maybeDeferred(RankingResource(_api(self))._ranking, request, session.user)

        def show(body: dict[str, Any]) -> Html:
            year, month = (int(p) for p in body["month"].split("-"))
            earlier = []
            for back in range(1, 13):
                index = year * 12 + month - 1 - back
                earlier.append(f"{index // 12}-{index % 12 + 1:02d}")
            return Html(
                "ranking.html",
                {
                    "title": "满意度排名",
                    "r": body,
                    "bars": ranking_chart(body["ranking"]),
                    "chart_height": 16 + 26 * len(body["ranking"]),
                    "earlier": earlier,
                    "today": date.today(),
                },
            )

        return d.addCallback(show).addErrback(_api_errors)


class ReportArchive(Page):
    """``/console/reports``: the archive; ``/console/reports/<id>``: one file."""

    def get(self, request: Request, session: Session) -> Any:
        from gateway.http.reports import ArchivedFileResource, ArchiveResource

        api = _api(self)
        ident = b"/".join(request.postpath).decode("utf-8", "replace")
        if ident:
            d = defer.maybeDeferred(
                ArchivedFileResource(api, ident)._download, request, session.user
            )
            d.addCallback(lambda f: Download(f[1], f[0].decode(), f[2]))
            return d.addErrback(_api_errors)
        d = defer.maybeDeferred(ArchiveResource(api)._list, request, session.user)
        d.addCallback(
            lambda body: Html(
                "reports.html",
                {"title": "报表归档", "reports": body["reports"], "kinds": KIND_LABELS},
            )
        )
        return d.addErrback(_api_errors)
