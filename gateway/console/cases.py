"""Cases in the console: the inbox per role, the case page with its timeline, the action forms
and evidence upload.

No rule lives here: what a person may see and do comes from the case store, which asks
``gateway.accounts.permissions`` inside the transaction (the same check as the API), and a
form is parsed by ``gateway.cases.actions.parse_action`` (the API's parser). A refusal or a
conflict (someone changed the case meanwhile) is shown as it is, in plain words.
"""

from __future__ import annotations

import hashlib
import os
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from twisted.internet import defer
from twisted.web.server import Request

from gateway.accounts import permissions as perm
from gateway.cases import states as cs
from gateway.cases.actions import ActionError, parse_action
from gateway.cases.store import CaseConflict, CaseError, CaseForbidden, CaseNotFound, CaseQuery
from gateway.console.access import ForbiddenError
from gateway.console.sessions import Session
from gateway.console.web import (
    PREFIX,
    BadRequestError,
    Download,
    Html,
    Page,
    arg,
    int_arg,
    redirect,
)

PAGE_SIZE = 50
STATE_LABELS = {
    cs.OPEN: "待核查",
    cs.VERIFYING: "核查中",
    cs.SUBSTANTIATED: "属实",
    cs.UNSUBSTANTIATED: "不属实",
    cs.RECTIFYING: "整改中",
    cs.UNDER_REVIEW: "待审核",
    cs.CLOSED: "已办结",
}
#: inbox tab -> (label, states, overdue)
INBOXES = {
    "verify": ("待核查", (cs.OPEN, cs.VERIFYING), None),
    "rectify": ("待整改", (cs.SUBSTANTIATED, cs.RECTIFYING), None),
    "review": ("待审核", (cs.UNDER_REVIEW,), None),
    "overdue": ("已超期", (), True),
    "all": ("全部", (), None),
}
#: the inbox each role starts on
FIRST_INBOX = {"inspector": "verify", "handler": "rectify", "leader": "rectify"}
#: permission action -> the forms (parse_action names) it offers, with their labels
FORMS = {
    cs.START_VERIFY: [("start_verify", "开始核查")],
    cs.FIND: [("substantiate", "认定属实"), ("unsubstantiate", "认定不属实")],
    cs.RECTIFY: [("rectify", "记录整改措施")],
    cs.SUBMIT: [("submit", "提交审核")],
    cs.REVIEW: [("accept", "审核通过（办结）"), ("return", "退回整改")],
    cs.ASSIGN: [("assign", "改派单位")],
    cs.EDIT_OFFICERS: [("edit_officers", "更正责任民警")],
    cs.NOTE: [("note", "添加备注")],
}
ACTION_LABELS = {name: label for forms in FORMS.values() for name, label in forms}
EVIDENCE_TYPES = ("image/jpeg", "image/png", "application/pdf")


class CaseInbox(Page):
    def get(self, request: Request, session: Session) -> Any:
        console = self.console
        store = console.cases
        if store is None:
            raise ForbiddenError("督办案件功能未启用")
        user = session.user
        box = arg(request, "box") or FIRST_INBOX.get(user.role, "all")
        if box not in INBOXES:
            raise BadRequestError(f"没有这个收件箱：{box}")
        _, states, overdue = INBOXES[box]
        after = int_arg(request, "after")

        def query(tree: Any) -> Any:
            if not perm.may(user, perm.CASE_READ):
                raise ForbiddenError("无权查看督办案件")
            scope = perm.scope_units(user, tree)
            if scope is not None and scope not in tree:
                raise ForbiddenError(f"账号所属单位 {scope} 不存在")
            return store.cases(
                CaseQuery(
                    scope=scope,
                    states=states,
                    overdue=overdue,
                    after=after,
                    limit=PAGE_SIZE + 1,
                    now=console.now(),
                )
            )

        def show(rows: list[dict[str, Any]]) -> Html:
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            return Html(
                "cases.html",
                {
                    "title": "督办案件",
                    "rows": rows,
                    "box": box,
                    "inboxes": INBOXES,
                    "states": STATE_LABELS,
                    "next_link": f"box={box}&after={rows[-1]['id']}" if more else None,
                },
            )

        return store.unit_tree().addCallback(query).addCallback(show)


class CasePage(Page):
    """``/console/cases/<id>``: GET the case; POST one action (or an evidence upload)."""

    def _case_id(self, request: Request) -> int:
        ident = request.postpath[0].decode("utf-8", "replace") if request.postpath else ""
        if not ident.isdigit() or len(ident) > 18:
            raise BadRequestError("案件编号不正确")
        return int(ident)

    def _evidence(self, request: Request, session: Session, case_id: int) -> Any:
        """``/console/case/<id>/evidence/<evidence id>``: the file, through the store's own
        check (and audit), as the API serves it."""
        rest = [p.decode("utf-8", "replace") for p in request.postpath[1:]]
        if len(rest) != 2 or rest[0] != "evidence" or not rest[1].isdigit():
            return Html("error.html", {"message": "页面不存在"}, 404)

        def send(file: Any) -> Any:
            path = self.console.evidence_path(file.sha256)

            def read() -> bytes | None:
                return path.read_bytes() if path.is_file() else None

            def answer(body: bytes | None) -> Any:
                if body is None:
                    return Html("error.html", {"message": "材料文件已丢失"}, 404)
                return Download(body, file.content_type, file.filename)

            return self.console.run_blocking(read).addCallback(answer)

        d = self.console.cases.evidence(session.user, case_id, int(rest[1]))
        return d.addCallback(send).addErrback(_case_errors)

    def get(self, request: Request, session: Session) -> Any:
        store = self.console.cases
        if store is None:
            raise ForbiddenError("督办案件功能未启用")
        case_id = self._case_id(request)
        if len(request.postpath) > 1:
            return self._evidence(request, session, case_id)
        d = store.case(session.user, case_id, self.console.now())
        d.addCallback(lambda case: self._show(case, arg(request, "done")))
        return d.addErrback(_case_errors)

    def _show(self, case: dict[str, Any], done: str | None, problem: str = "") -> Html:
        forms = [f for a in case["allowed_actions"] for f in FORMS.get(a, [])]
        return Html(
            "case.html",
            {
                "title": f"案件 {case['id']}",
                "case": case,
                "forms": forms,
                "states": STATE_LABELS,
                "labels": ACTION_LABELS,
                "problem": problem,
                "done": ACTION_LABELS.get(done or "", ""),
                "evidence_types": EVIDENCE_TYPES,
                "may_upload": cs.RECTIFY in case["allowed_actions"],
            },
            409 if problem else 200,
        )

    def post(self, request: Request, session: Session) -> Any:
        store = self.console.cases
        if store is None:
            raise ForbiddenError("督办案件功能未启用")
        case_id = self._case_id(request)
        user = session.user
        action = arg(request, "action") or ""
        version_text = arg(request, "version")
        version = int(version_text) if version_text and version_text.isdigit() else None
        if action == "evidence":
            d = self._upload(request, session, case_id, version)
        else:
            fields = {k.decode(): v[-1].decode("utf-8", "replace") for k, v in request.args.items()}
            try:
                event = parse_action(
                    action, fields, actor=user.name, at=self.console.now(), version=version
                )
            except ActionError as exc:
                return self._refused(user, case_id, f"表单不完整：{exc}")
            d = store.act(user, case_id, event)
        d.addCallback(lambda _: redirect(request, f"{PREFIX}/case/{case_id}?done={action}"))

        def refused(failure: Any) -> Any:
            failure.trap(CaseError)
            if isinstance(failure.value, CaseForbidden | CaseNotFound):
                return _case_errors(failure)
            prefix = (
                "案件已被他人修改，请查看最新内容后重试："
                if isinstance(failure.value, CaseConflict)
                else "未能办理："
            )
            return self._refused(user, case_id, prefix + str(failure.value))

        return d.addErrback(refused)

    def _refused(self, user: Any, case_id: int, problem: str) -> Any:
        d = self.console.cases.case(user, case_id, self.console.now())
        return d.addCallback(lambda case: self._show(case, None, problem)).addErrback(_case_errors)

    def _upload(self, request: Request, session: Session, case_id: int, version: int | None) -> Any:
        limit = getattr(self.console.case_settings, "evidence_max_bytes", 10 * 1024 * 1024)
        too_big = f"文件为空或超过 {limit // 1024 // 1024} MB"
        files = uploaded_files(request, limit + FORM_OVERHEAD)
        if files is None:  # the whole form is over the limit: not even parsed
            return defer.fail(CaseError(too_big))
        if not files:
            raise BadRequestError("请选择要上传的文件")
        filename, ctype, data = files[0]
        if ctype not in EVIDENCE_TYPES:
            return defer.fail(CaseError(f"不接受 {ctype} 类型的文件（可上传 JPEG、PNG、PDF）"))
        if len(data) > limit or not data:
            return defer.fail(CaseError(too_big))
        digest = hashlib.sha256(data).hexdigest()
        meta = {
            "sha256": digest,
            "filename": os.path.basename(filename) or "evidence",
            "content_type": ctype,
            "size_bytes": len(data),
            "at": self.console.now(),
        }
        d = self.console.run_blocking(_store_file, self.console.evidence_path(digest), data)
        return d.addCallback(
            lambda _: self.console.cases.add_evidence(session.user, case_id, version, meta)
        )


#: What a multipart form adds around the file (boundaries, headers, the other fields).
FORM_OVERHEAD = 64 * 1024


def _store_file(target: Any, data: bytes) -> None:
    """Write once by content: a file already there is the same bytes."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, target)


def _case_errors(failure: Any) -> Any:
    error = failure.value
    if isinstance(error, CaseNotFound):
        return Html("error.html", {"message": "案件不存在"}, 404)
    if isinstance(error, CaseForbidden):
        raise ForbiddenError("无权查看此案件") from None
    return failure


def uploaded_files(request: Request, max_bytes: int) -> list[tuple[str, str, bytes]] | None:
    """``(filename, content type, bytes)`` of each file part of a multipart form; ``None``
    when the form is larger than ``max_bytes`` (it is then not read into memory at all)."""
    ctype = request.getHeader("content-type") or ""
    if not ctype.startswith("multipart/form-data"):
        return []
    length = request.getHeader("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        return None
    request.content.seek(0)
    body = request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
    )
    found = []
    for part in message.iter_parts():
        name = part.get_filename()
        if name:
            found.append((name, part.get_content_type(), part.get_payload(decode=True) or b""))
    return found
