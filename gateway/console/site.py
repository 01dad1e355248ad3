"""The console's resource tree, mounted at ``/console`` on the daemon's HTTP site."""

from __future__ import annotations

from twisted.web.resource import Resource
from twisted.web.server import Request

from gateway.console.cases import CaseInbox, CasePage
from gateway.console.files import Export, RecordingPlayer, Static
from gateway.console.ladder import LadderPage, UsersPage
from gateway.console.manual import ManualCallbacksPage
from gateway.console.pages import AuditLog, CallbackList, Dashboard, SurveyList
from gateway.console.reports import RankingPage, ReportArchive
from gateway.console.signin import Login, Logout
from gateway.console.web import PREFIX, Console, redirect, security_headers


class ConsoleRoot(Resource):
    """``/console``: sends the browser to ``/console/``; the pages are its children."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        surveys, callbacks = SurveyList(console), CallbackList(console)
        self.putChild(b"", Dashboard(console))
        self.putChild(b"login", Login(console))
        self.putChild(b"logout", Logout(console))
        self.putChild(b"surveys", surveys)
        self.putChild(b"callbacks", callbacks)
        self.putChild(b"recordings", RecordingPlayer(console))
        self.putChild(b"export", Export(console, {"surveys": surveys, "callbacks": callbacks}))
        self.putChild(b"audit", AuditLog(console))
        self.putChild(b"static", Static())
        self.putChild(b"cases", CaseInbox(console))
        self.putChild(b"case", CasePage(console))
        self.putChild(b"ranking", RankingPage(console))
        self.putChild(b"reports", ReportArchive(console))
        self.putChild(b"ladder", LadderPage(console))
        self.putChild(b"users", UsersPage(console))
        self.putChild(b"manual", ManualCallbacksPage(console))

    def render_GET(self, request: Request) -> bytes:
        security_headers(request)
        return redirect(request, f"{PREFIX}/")

    def getChild(self, path: bytes, request: Request) -> Resource:
        return NotFound()


class NotFound(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        security_headers(request)
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return "页面不存在".encode()


def console_resource(console: Console) -> ConsoleRoot:
    return ConsoleRoot(console)
