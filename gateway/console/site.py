"""The console's resource tree, mounted at ``/console`` on the daemon's HTTP site."""

from __future__ import annotations

from twisted.web.resource import Resource
from twisted.web.server import Request

from gateway.console.files import Export, RecordingPlayer, Static
from gateway.console.pages import AuditLog, CallbackList, Dashboard, SurveyList
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
