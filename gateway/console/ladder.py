"""The accountability ladder (约谈 proposals and decisions) and the users list, for those whose
role allows them (``gateway.accounts.permissions``: ``ladder.read`` / ``ladder.decide``,
``user.manage``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.web.server import Request

from gateway.accounts import permissions as perm
from gateway.console.access import ForbiddenError
from gateway.console.sessions import Session
from gateway.console.web import PREFIX, BadRequestError, Html, Page, arg, redirect
from gateway.reports.consequences import KIND_LABELS

STATUS_LABELS = {"proposed": "待决定", "confirmed": "已确认", "dismissed": "已撤销"}


def _tree(api: Any, tx: Any) -> Any:
    return perm.MappingUnitTree({u.code: u.parent for u in api.store.units(tx)})


class LadderPage(Page):
    def _api(self) -> Any:
        if self.console.reports is None:
            raise ForbiddenError("问责功能未启用")
        return self.console.reports

    def get(self, request: Request, session: Session) -> Any:
        api, user = self._api(), session.user
        decision = perm.may(user, perm.LADDER_READ)
        if not decision:
            raise ForbiddenError("无权查看问责记录")

        def read(tx: Any) -> Html:
            tree = _tree(api, tx)
            rows = [
                (i, bool(perm.check(user, perm.LADDER_DECIDE, i.unit_code, tree)))
                for i in api.store.interviews(tx, arg(request, "month"))
                if perm.check(user, perm.LADDER_READ, i.unit_code, tree)
            ]
            return Html(
                "ladder.html",
                {
                    "title": "问责阶梯",
                    "rows": rows,
                    "kinds": KIND_LABELS,
                    "statuses": STATUS_LABELS,
                    "done": arg(request, "done"),
                },
            )

        return api.db.run(read)

    def post(self, request: Request, session: Session) -> Any:
        api, user = self._api(), session.user
        ident, status = arg(request, "interview") or "", arg(request, "status")
        if not ident.isdigit() or status not in ("confirmed", "dismissed"):
            raise BadRequestError("请选择要确认或撤销的约谈记录")
        now = self.console.now()

        def decide(tx: Any) -> None:
            record = next((i for i in api.store.interviews(tx) if i.id == int(ident)), None)
            if record is None:
                raise BadRequestError("约谈记录不存在")
            decision = perm.check(user, perm.LADDER_DECIDE, record.unit_code, _tree(api, tx))
            if not decision:
                raise ForbiddenError("无权决定此约谈：" + decision.reason)
            api.store.decide_interview(tx, record.id, status, user.name, _utc(now))

        d = api.db.run(decide)
        return d.addCallback(lambda _: redirect(request, f"{PREFIX}/ladder?done={status}"))


def _utc(at: datetime) -> datetime:
    from datetime import UTC

    return at.astimezone(UTC)


class UsersPage(Page):
    """The user accounts: the city bureau's inspectorate only (``user.manage``)."""

    def get(self, request: Request, session: Session) -> Any:
        user = session.user
        store = getattr(self.console.users, "store", None)
        cases = self.console.cases
        if store is None or cases is None:
            raise ForbiddenError("用户管理功能未启用")

        def check(tree: Any) -> Any:
            decision = perm.check(user, perm.USER_MANAGE, None, tree)
            if not decision:
                raise ForbiddenError("用户管理仅限市局督察部门")
            return store.users()

        d = cases.unit_tree().addCallback(check)
        return d.addCallback(lambda users: Html("users.html", {"title": "用户", "users": users}))
