"""Signing in and out.

The sign-in form is protected against cross-site posting by a double-submitted token (a
``pj_login`` cookie and the same value in the form), since there is no session yet. A
successful sign-in starts a new session (a fresh id: no fixation) and sets its cookie
``HttpOnly; SameSite=Strict; Path=/console`` (and ``Secure`` over TLS). Failures are slowed
and logged by :class:`~gateway.console.sessions.LoginThrottle`.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.console.users import ConsoleUser
from gateway.console.web import (
    COOKIE,
    PREFIX,
    Console,
    Html,
    Page,
    arg,
    client_address,
    redirect,
    security_headers,
)

log = Logger()
LOGIN_COOKIE = b"pj_login"


def set_cookie(request: Request, name: bytes, value: str, max_age: int | None = None) -> None:
    request.addCookie(
        name,
        value.encode("ascii"),
        path=PREFIX.encode(),
        httpOnly=True,
        secure=request.isSecure(),
        sameSite="strict",
        max_age=None if max_age is None else str(max_age).encode(),
    )


def safe_next(target: str | None) -> str:
    """Only a path inside the console (never another site) is followed after sign-in."""
    if not target:
        return f"{PREFIX}/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{PREFIX}/"):
        return f"{PREFIX}/"
    return target


class Login(Resource):
    isLeaf = True

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def _form(
        self, request: Request, message: str = "", name: str = "", status: int = 200
    ) -> bytes:
        token = secrets.token_urlsafe(24)
        set_cookie(request, LOGIN_COOKIE, token)
        context = {"token": token, "message": message, "name": name, "next": arg(request, "next")}
        return self.console.page(request, None, Html("login.html", context, status))

    def render_GET(self, request: Request) -> bytes:
        security_headers(request)
        if self.console.session_for(request) is not None:
            return redirect(request, safe_next(arg(request, "next")))
        return self._form(request)

    def render_POST(self, request: Request) -> Any:
        security_headers(request)
        cookie = (request.getCookie(LOGIN_COOKIE) or b"").decode("ascii", "replace")
        presented = arg(request, "token") or ""
        if not cookie or not hmac.compare_digest(cookie, presented):
            return self._form(request, "登录页面已过期，请重新输入", status=403)
        name = (arg(request, "name") or "")[:64]
        password = arg(request, "password") or ""
        address = client_address(request)
        throttle = self.console.throttle
        d = throttle.wait(name, address)
        d.addCallback(lambda _: self.console.users.verify(name, password))
        d.addCallback(self._verified, request, name, address)
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _verified(
        self, user: ConsoleUser | None, request: Request, name: str, address: str
    ) -> None:
        if request.finished:
            return
        if user is None:
            self.console.throttle.failed(name, address)
            body = self._form(request, "用户名或密码错误", name, 401)
        else:
            self.console.throttle.succeeded(name, address)
            old = request.getCookie(COOKIE)
            self.console.sessions.end(old.decode("ascii", "replace") if old else None)
            session = self.console.sessions.create(user)
            set_cookie(request, COOKIE, session.ident)
            set_cookie(request, LOGIN_COOKIE, "", max_age=0)
            log.info(
                "console: {name} ({role}, unit {unit}) signed in from {address}",
                name=user.name,
                role=user.role,
                unit=user.unit or "*",
                address=address,
            )
            body = redirect(request, safe_next(arg(request, "next")))
        request.write(body)
        request.finish()

    def _failed(self, failure: Any, request: Request) -> None:
        log.failure("console sign-in failed", failure)
        if not request.finished:
            request.write(self._form(request, "登录服务暂不可用，请稍后重试", status=503))
            request.finish()


class Logout(Page):
    def get(self, request: Request, session: Any) -> Html:
        return Html("logout.html")

    def post(self, request: Request, session: Any) -> defer.Deferred[bytes]:
        self.console.sessions.end(session.ident)
        set_cookie(request, COOKIE, "", max_age=0)
        log.info("console: {name} signed out", name=session.user.name)
        return defer.succeed(redirect(request, f"{PREFIX}/login"))
