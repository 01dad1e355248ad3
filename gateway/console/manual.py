"""Callbacks made by hand in the console: the list to call and the form to record a call.

No rule lives here: the list and the record go through the API's service
(``storage.manual_calls.SqlManualCallbacks``, the very instance mounted at
``/api/v1/manual-callbacks``), which asks ``gateway.accounts.permissions`` inside its
transaction. The list is paged on the server by task id; phone numbers are masked unless the
person's role may dial (``callback.manual.record``) and asks to see them, which the service
audits, as the API's ``reveal=true``. A refusal (the citizen already reached by someone else,
a task no longer on the list) is shown as it is, with the list.
"""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from gateway.accounts import permissions as perm
from gateway.callbacks.manual import RATINGS, REASON_KEYS, ManualCallRecord
from gateway.cases.store import CaseError, CaseForbidden, CaseNotFound
from gateway.console.access import ForbiddenError
from gateway.console.sessions import Session
from gateway.console.web import (
    PREFIX,
    BadRequestError,
    Html,
    Page,
    arg,
    int_arg,
    query_string,
    redirect,
)

PAGE_SIZE = 50
#: the IVR's reason keys (``ivr.flow.REASONS``) as the caller reads them
REASON_LABELS = {"1": "服务态度", "2": "办事效率", "3": "沟通不畅", "4": "操作错误", "5": "其他"}
RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
STATUS_LABELS = {
    "manual": "待人工回访",
    "wrong_person": "非本人接听",
    "no_input": "未按键",
    "unreachable": "无法联系",
}


class ManualCallbacksPage(Page):
    """``/console/manual``: GET the list (``unit``, ``after``, ``unreachable=1``,
    ``reveal=1``); ``POST /console/manual/<task id>``: record one call."""

    def _service(self) -> Any:
        service = self.console.manual_callbacks
        if service is None:
            raise ForbiddenError("人工回访功能未启用")
        return service

    def get(self, request: Request, session: Session, problem: str = "") -> Any:
        service = self._service()
        user = session.user
        if request.postpath and request.postpath[0]:
            return Html("error.html", {"message": "页面不存在"}, 404)
        reveal = arg(request, "reveal") == "1"
        may_dial = bool(perm.may(user, perm.MANUAL_CALLBACK_RECORD))
        if reveal and not may_dial:
            raise ForbiddenError("无权查看完整手机号")
        filters = {
            "unit": arg(request, "unit"),
            "unreachable": "1" if arg(request, "unreachable") == "1" else None,
        }
        after = int_arg(request, "after")
        d = service.manual_list(
            user,
            unit=filters["unit"],
            include_unreachable=bool(filters["unreachable"]),
            after=after,
            limit=PAGE_SIZE + 1,
            reveal_phone=reveal,
        )

        def show(rows: list[dict[str, Any]]) -> Html:
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            keep = {**filters, "reveal": "1" if reveal else None}
            return Html(
                "manual.html",
                {
                    "title": "人工回访",
                    "rows": rows,
                    "filters": filters,
                    "reveal": reveal,
                    "may_dial": may_dial,
                    "reveal_link": query_string({**filters, "reveal": "1"}),
                    "mask_link": query_string(filters),
                    "next_link": (
                        query_string({**keep, "after": rows[-1]["callback_id"]}) if more else None
                    ),
                    "first_link": query_string(keep) if after else None,
                    "statuses": STATUS_LABELS,
                    "reasons": {k: REASON_LABELS.get(k, f"代码 {k}") for k in REASON_KEYS},
                    "ratings": {r: RATING_LABELS[r] for r in RATINGS},
                    "problem": problem,
                    "done": arg(request, "done"),
                },
                409 if problem else 200,
            )

        return d.addCallback(show).addErrback(_errors)

    def post(self, request: Request, session: Session) -> Any:
        service = self._service()
        ident = request.postpath[0].decode("utf-8", "replace") if request.postpath else ""
        if not ident.isdigit() or len(ident) > 18:
            raise BadRequestError("回访编号不正确")
        callback_id = int(ident)
        reached = arg(request, "reached")
        if reached not in ("1", "0"):
            return self._refused(request, session, "请选择是否联系上群众")
        consent = arg(request, "consent")
        call = ManualCallRecord(
            reached=reached == "1",
            reason_key=arg(request, "reason_key"),
            rating=arg(request, "rating"),
            consent=None if consent not in ("1", "0") else consent == "1",
            notes=(arg(request, "notes") or "")[:500] or None,
        )
        d = service.record_call(session.user, callback_id, call, self.console.now())
        d.addCallback(lambda _: redirect(request, f"{PREFIX}/manual?done={callback_id}"))

        def refused(failure: Any) -> Any:
            failure.trap(CaseError)
            if isinstance(failure.value, CaseForbidden | CaseNotFound):
                return _errors(failure)
            return self._refused(request, session, f"回访 {callback_id} 未能记录：{failure.value}")

        return d.addErrback(refused)

    def _refused(self, request: Request, session: Session, problem: str) -> Any:
        request.postpath = []
        return self.get(request, session, problem)


def _errors(failure: Any) -> Any:
    error = failure.value
    if isinstance(error, CaseNotFound):
        return Html("error.html", {"message": "回访任务不存在"}, 404)
    if isinstance(error, CaseForbidden):
        raise ForbiddenError("无权查看或记录此人工回访") from None
    if isinstance(error, CaseError):
        raise BadRequestError(str(error)) from None
    return failure
