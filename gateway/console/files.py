"""What the console sends that is not a page: its own assets, recordings, exports.

Recordings go through the API's own decision (:func:`gateway.http.recordings.decide`: the same
unit rule, the same audit actions) and every request for one, each Range request of the player
included, leaves one ``audit_log`` row before a byte is sent (``detail.via = "console"``).
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from importlib import resources
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.console.sessions import Session
from gateway.console.web import Download, Html, Page, client_address, security_headers
from gateway.console.xlsx import workbook
from gateway.http.recordings import SERVED, Verdict, decide
from gateway.http.store import AuditRecord

log = Logger()

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
EXPORT_MAX = 100_000
EXPORT_BATCH = 5_000


class Static(Resource):
    """``/console/static/<name>``: the files of ``gateway/console/static`` and nothing else."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.root = resources.files("gateway.console") / "static"

    def render_GET(self, request: Request) -> bytes:
        security_headers(request, cache=True)
        name = "/".join(p.decode("utf-8", "replace") for p in request.postpath)
        kind = STATIC_TYPES.get(os.path.splitext(name)[1])
        if kind is None or "/" in name or name.startswith("."):
            request.setResponseCode(404)
            return b"not found"
        target = self.root / name
        if not target.is_file():
            request.setResponseCode(404)
            return b"not found"
        request.setHeader(b"content-type", kind.encode())
        return target.read_bytes()


class RecordingPlayer(Page):
    """``/console/recordings/<id>``: the audio for the page's player, inline, with Range."""

    def get(self, request: Request, session: Session) -> Any:
        ident = "/".join(p.decode("utf-8", "replace") for p in request.postpath)
        user = session.user
        detail: dict[str, Any] = {
            "remote": client_address(request),
            "method": request.method.decode("ascii", "replace"),
            "scope": user.unit or "*",
            "via": "console",
        }
        if request.getHeader("range"):
            detail["range"] = request.getHeader("range")[:64]
        if not ident.isdigit() or len(ident) > 18:
            verdict = Verdict(
                "recording.malformed", 404, "录音编号不正确", "the id is not a number"
            )
            return self._record(request, session, ident, verdict, detail)
        recording_id = int(ident)
        console = self.console
        d = console.store.recording(recording_id)
        if user.unit:
            d.addCallback(
                lambda target: console.store.subtrees([user.unit]).addCallback(
                    lambda trees: (target, trees[user.unit])
                )
            )
        else:
            d.addCallback(lambda target: (target, None))
        d.addCallback(
            lambda found: decide(user, recording_id, found[0], found[1], console.recordings_dir)
        )
        return d.addCallback(lambda v: self._record(request, session, ident, v, detail))

    def _record(
        self, request: Request, session: Session, ident: str, verdict: Verdict, detail: dict
    ) -> defer.Deferred[Any]:
        detail = {**detail, "status": verdict.status}
        if verdict.reason:
            detail["reason"] = verdict.reason
        if verdict.target is not None:
            detail["callback_id"] = verdict.target.callback_id
            detail["unit_code"] = verdict.target.unit_code
        record = AuditRecord(
            session.user.name, verdict.action, "recording", ident[:64] or None, detail
        )
        d = self.console.store.audit(record)
        return d.addCallback(lambda _: self._send(request, verdict))

    def _send(self, request: Request, verdict: Verdict) -> Any:
        if verdict.action != SERVED or verdict.target is None:
            messages = {403: "无权收听此录音", 404: "录音不存在"}
            return Html(
                "error.html", {"message": messages.get(verdict.status, "请求无效")}, verdict.status
            )
        target = verdict.target
        path = os.path.realpath(target.path)
        filename = f"recording-{target.recording_id}{os.path.splitext(path)[1]}"
        request.setHeader(b"content-disposition", f'inline; filename="{filename}"'.encode())
        from twisted.web.static import File  # imported late: its import warns on Twisted 26

        body = File(path, defaultType="application/octet-stream").render(request)
        if body is not NOT_DONE_YET:
            request.write(body)
            request.finish()
        return None


SURVEY_COLUMNS = [
    ("survey_id", "编号"),
    ("event_id", "警情/业务编号"),
    ("created_at", "时间"),
    ("unit_code", "单位代码"),
    ("unit_name", "单位"),
    ("category", "类别"),
    ("business", "业务"),
    ("phone", "手机号"),
    ("status", "状态"),
    ("rating", "评价"),
    ("comment", "意见"),
]
CALLBACK_COLUMNS = [
    ("callback_id", "编号"),
    ("event_id", "警情/业务编号"),
    ("unit_code", "单位代码"),
    ("phone", "手机号"),
    ("status", "状态"),
    ("attempts", "拨打次数"),
    ("reason", "不满意原因"),
    ("recording_seconds", "录音秒数"),
    ("consent", "同意录音"),
    ("completed_at", "完成时间"),
]


class Export(Page):
    """``/console/export/<surveys|callbacks>.<csv|xlsx>?<the list's filters>``: the current
    filter of a list, up to :data:`EXPORT_MAX` rows, fetched in batches of one transaction."""

    def __init__(self, console: Any, lists: dict[str, Any]) -> None:
        super().__init__(console)
        self.lists = lists

    def get(self, request: Request, session: Session) -> Any:
        name = b"/".join(request.postpath).decode("utf-8", "replace")
        kind, _, fmt = name.partition(".")
        if kind not in self.lists or fmt not in ("csv", "xlsx"):
            return Html("error.html", {"message": "没有这种导出"}, 404)
        page = self.lists[kind]
        key = "survey_id" if kind == "surveys" else "callback_id"
        columns = SURVEY_COLUMNS if kind == "surveys" else CALLBACK_COLUMNS
        rows: list[dict[str, Any]] = []

        def more(batch: list[dict[str, Any]]) -> Any:
            rows.extend(batch[:EXPORT_BATCH])
            if len(batch) > EXPORT_BATCH and len(rows) < EXPORT_MAX:
                request.args[b"after"] = [str(rows[-1][key]).encode()]
                return page.query(request, session, EXPORT_BATCH).addCallback(more)
            return rows

        request.args.pop(b"after", None)
        d = page.query(request, session, EXPORT_BATCH).addCallback(more)
        stamp = self.console.now().strftime("%Y%m%d-%H%M")
        return d.addCallback(lambda found: self._file(kind, fmt, columns, found, stamp, session))

    def _file(self, kind: str, fmt: str, columns: list, rows: list, stamp: str, session: Session):
        header = [title for _, title in columns]
        values = [[self._value(row.get(key)) for key, _ in columns] for row in rows[:EXPORT_MAX]]
        log.info(
            "console: {user} exported {n} {kind} rows as {fmt}",
            user=session.user.name,
            n=len(values),
            kind=kind,
            fmt=fmt,
        )
        filename = f"{'评价记录' if kind == 'surveys' else '回访结果'}-{stamp}.{fmt}"
        if fmt == "xlsx":
            mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            return Download(workbook(header, values), mime, filename)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(["" if v is None else _csv_safe(v) for v in row] for row in values)
        return Download(
            ("\ufeff" + out.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", filename
        )

    def _value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(self.console.zone).strftime("%Y-%m-%d %H:%M:%S")
        return value


def _csv_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
