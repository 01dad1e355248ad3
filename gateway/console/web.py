"""The console's plumbing: the shared state, the security headers, sessions on requests, and the
base class every page derives from.

Every response carries a Content-Security-Policy that allows nothing but this server (no
inline script, no CDN, no external font), ``nosniff``, ``no-referrer`` and ``frame-ancestors
'none'``. Pages are ``no-store``. Every POST must carry the session's CSRF token. Every page
reaches data only through :meth:`Console.scope` or a store that asks
``gateway.accounts.permissions`` itself: the one rule the API and the CLI use too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from gateway.accounts import permissions as perm
from gateway.callbacks.export import ExportQueryError, parse_bound
from gateway.console.access import ForbiddenError
from gateway.console.render import make_environment, render
from gateway.console.sessions import LoginThrottle, Session, SessionStore
from gateway.console.store import ConsoleStore
from gateway.console.trend import TrendRollup
from gateway.console.users import ConsoleUser, UserDirectory
from gateway.http.store import UnitIds

log = Logger()

PREFIX = "/console"
COOKIE = b"pj_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HTML = b"text/html; charset=utf-8"


class BadRequestError(Exception):
    """A filter or form the console cannot use; the message (Chinese) is shown."""


@dataclass
class Html:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200


@dataclass
class Download:
    body: bytes
    content_type: str
    filename: str


@dataclass
class Console:
    """Everything the pages share."""

    store: ConsoleStore
    users: UserDirectory
    zone: ZoneInfo
    clock: Any
    recordings_dir: str | None = None
    idle_seconds: float = 30 * 60
    cases: Any = None  # gateway.cases.store.CaseStore; None: no case pages
    case_settings: Any = None
    manual_callbacks: Any = None  # storage.manual_calls.SqlManualCallbacks, the API's instance
    reports: Any = None  # gateway.http.reports.ReportApi; None: no report pages
    # runs file reads and writes (evidence) off the reactor thread
    run_blocking: Callable[..., Any] = threads.deferToThread
    evidence_path: Any = None  # digest -> Path, the API's layout (CasesResource.evidence_path)
    trend_cache: dict[Any, Any] = field(default_factory=dict)  # gateway.console.pages
    trend_rollup: TrendRollup = field(default_factory=TrendRollup)
    sessions: SessionStore = field(init=False)
    throttle: LoginThrottle = field(init=False)
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = SessionStore(self.clock, self.idle_seconds)
        self.throttle = LoginThrottle(self.clock)
        self.env = make_environment(self.zone)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), self.zone)

    def session_for(self, request: Request) -> Session | None:
        value = request.getCookie(COOKIE)
        return self.sessions.get(value.decode("ascii", "replace") if value else None)

    def scope(
        self, user: ConsoleUser, code: str | None = None, action: str = perm.REPORT_READ
    ) -> defer.Deferred[UnitIds]:
        """The unit ids ``user`` may ``action`` on (``None``: every unit), narrowed to
        ``code``'s subtree when given; a :class:`ForbiddenError` failure when
        ``gateway.accounts.permissions`` says no (or ``code`` does not exist)."""

        def decide(tree: Any) -> Any:
            if code is not None and code not in tree:
                raise ForbiddenError(f"单位 {code} 不存在")
            target = code or perm.scope_units(user, tree)
            decision = perm.check(user, action, target, tree) if target else perm.may(user, action)
            if not decision:
                log.info("console: {user} refused: {why}", user=user.name, why=decision.reason)
                if target == user.unit and target not in tree:
                    raise ForbiddenError(f"账号所属单位 {target} 不存在")
                raise ForbiddenError(f"无权查看单位 {target}" if target else "无权查看")
            if target is None:
                return None
            return self.store.subtrees([target]).addCallback(lambda trees: trees[target])

        return self.store.unit_tree().addCallback(decide)

    def allowed_ids(self, user: ConsoleUser, action: str) -> defer.Deferred[UnitIds]:
        """As :meth:`scope` without a filter, a refusal answered as no unit at all (for the
        recording player, whose verdict is audited either way)."""
        d = self.scope(user, None, action)
        return d.addErrback(lambda f: f.trap(ForbiddenError) and frozenset())

    def parse_day(self, text: str | None, *, end: bool, what: str) -> datetime | None:
        if not text:
            return None
        try:
            return parse_bound(text, self.zone, end=end, what=what)
        except ExportQueryError:
            raise BadRequestError(f"日期格式不正确：{text}（应为 2026-11-01）") from None

    def page(self, request: Request, session: Session | None, out: Html) -> bytes:
        context = {
            "user": session.user if session else None,
            "csrf": session.csrf if session else "",
            "prefix": PREFIX,
            **nav(session.user if session else None, getattr(request, "unit_tree", None)),
            "title": "",
            "path": request.path.decode("utf-8", "replace"),
            **out.context,
        }
        request.setResponseCode(out.status)
        request.setHeader(b"content-type", HTML)
        return render(self.env, out.template, context)


def nav(user: ConsoleUser | None, tree: Any) -> dict[str, bool]:
    """The menu entries ``user`` is offered, as ``gateway.accounts.permissions`` decides (the
    pages decide again on every request)."""
    if user is None:
        return {"may_audit": False, "may_users": False, "may_manual": False, "may_ladder": False}
    city = tree is not None
    return {
        "may_audit": city and bool(perm.check(user, perm.AUDIT_READ, None, tree)),
        "may_users": city and bool(perm.check(user, perm.USER_MANAGE, None, tree)),
        "may_manual": bool(perm.may(user, perm.MANUAL_CALLBACK_READ)),
        "may_ladder": bool(perm.may(user, perm.LADDER_READ)),
    }


def security_headers(request: Request, *, cache: bool = False) -> None:
    request.setHeader(b"content-security-policy", CSP.encode())
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"referrer-policy", b"no-referrer")
    request.setHeader(b"x-frame-options", b"DENY")
    request.setHeader(b"cache-control", b"private, max-age=3600" if cache else b"no-store")


def arg(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    text = values[-1].decode("utf-8", "replace").strip()
    return text or None


def int_arg(request: Request, name: str, default: int = 0) -> int:
    text = arg(request, name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 18:
        raise BadRequestError(f"参数 {name} 应为数字")
    return int(text)


def query_string(values: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def redirect(request: Request, location: str) -> bytes:
    request.setResponseCode(303)
    request.setHeader(b"location", location.encode("utf-8"))
    return b""


def client_address(request: Request) -> str:
    return getattr(request.getClientAddress(), "host", None) or "?"


class Page(Resource):
    """A signed-in page: ``get``/``post`` return (a Deferred of) :class:`Html`, a
    :class:`Download`, or bytes already answered (a redirect). Without a session the browser is
    sent to the sign-in page; a POST without the session's CSRF token is refused (403)."""

    isLeaf = True

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def get(self, request: Request, session: Session) -> Any:
        raise NotImplementedError

    def post(self, request: Request, session: Session) -> Any:
        request.setHeader(b"allow", b"GET")
        return Html("error.html", {"message": "不支持此操作"}, 405)

    def render_GET(self, request: Request) -> Any:
        return self._serve(request, self.get)

    def render_HEAD(self, request: Request) -> Any:
        return self._serve(request, self.get)

    def render_POST(self, request: Request) -> Any:
        return self._serve(request, self.post, csrf=True)

    def _serve(self, request: Request, handler: Callable[..., Any], csrf: bool = False) -> Any:
        security_headers(request)
        session = self.console.session_for(request)
        if session is None:
            target = request.uri.decode("utf-8", "replace")
            return redirect(request, f"{PREFIX}/login?next={quote(target, safe='')}")
        if csrf and not session.csrf_ok(arg(request, "csrf")):
            log.warn(
                "console: {user} posted to {path} without a valid CSRF token",
                user=session.user.name,
                path=request.path.decode("utf-8", "replace"),
            )
            html = Html("error.html", {"message": "表单已失效，请刷新页面后重试"}, 403)
            return self.console.page(request, session, html)
        # the unit tree of this request, for the menu (what ``nav`` offers)
        d = self.console.store.unit_tree()
        d.addCallback(lambda tree: setattr(request, "unit_tree", tree))
        d.addCallback(lambda _: handler(request, session))
        d.addCallback(self._answer, request, session)
        d.addErrback(self._failed, request, session)
        return NOT_DONE_YET

    def _answer(self, out: Any, request: Request, session: Session) -> None:
        if out is None or request.finished or getattr(request, "_disconnected", False):
            return  # None: the handler answered the request itself
        if isinstance(out, Html):
            body = self.console.page(request, session, out)
        elif isinstance(out, Download):
            request.setHeader(b"content-type", out.content_type.encode())
            disposition = f"attachment; filename*=UTF-8''{quote(out.filename)}"
            request.setHeader(b"content-disposition", disposition.encode())
            body = out.body
        else:
            body = out
        if request.method != b"HEAD":
            request.write(body)
        request.finish()

    def _failed(self, failure: Failure, request: Request, session: Session) -> None:
        error = failure.value
        if isinstance(error, ForbiddenError):
            log.warn(
                "console: {user} refused at {uri}: {why}",
                user=session.user.name,
                uri=request.uri.decode("utf-8", "replace"),
                why=str(error),
            )
            out = Html("error.html", {"message": str(error)}, 403)
        elif isinstance(error, BadRequestError):
            out = Html("error.html", {"message": str(error)}, 400)
        else:
            log.failure("console page {uri} failed", failure, uri=request.uri)
            out = Html("error.html", {"message": "服务器出错，请稍后重试"}, 500)
        self._answer(out, request, session)
