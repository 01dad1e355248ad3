"""``pingjing demo --serve``: after the loop, the console over the demo's database until Ctrl-C.

A demo user per role is created with a fresh password and printed, so a newcomer can sign in
and click through what the loop just produced: the inspectorate sees every unit, the handler
and the viewer one sub-bureau.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gateway.console.users import ConsoleUser, MemoryUserDirectory

DEMO_USERS = (
    ConsoleUser("ducha", "inspector", "530400000000", "督察演示账号"),
    ConsoleUser("hongta", "handler", "530402000000", "红塔分局经办人"),
    ConsoleUser("chakan", "viewer", "530402000000", "红塔分局查看人员"),
)


def demo_users() -> tuple[MemoryUserDirectory, list[tuple[ConsoleUser, str]]]:
    pairs = [(user, secrets.token_urlsafe(9)) for user in DEMO_USERS]
    return MemoryUserDirectory(pairs), pairs


def create_accounts(db: Any, pairs: list[tuple[ConsoleUser, str]]) -> None:
    """The demo users as real accounts (``pingjing users``), so ``pingjing run`` on the demo's
    configuration serves the same console; an existing account gets the new password."""
    from gateway.accounts.credentials import hash_password
    from gateway.accounts.model import Role
    from gateway.accounts.store import NewUser
    from storage.user_store import add_user, get_user, set_password

    def write(session: Any) -> None:
        for user, password in pairs:
            hashed = hash_password(password)
            if get_user(session, user.name) is None:
                new = NewUser(user.name, user.display, user.unit, Role(user.role), None, hashed)
                add_user(session, new)
            else:
                set_password(session, user.name, hashed)

    db.run_sync(write)


async def serve_console(
    reactor: Any,
    config: Path,
    say: Callable[[str], None],
    port: int = 8080,
    until: Any = None,
) -> None:
    """Serve ``/console`` on 127.0.0.1:``port`` (any free port when taken) until the reactor
    shuts down (Ctrl-C), or until the Deferred ``until`` fires (tests)."""
    from twisted.internet import defer
    from twisted.internet.error import CannotListenError
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    from gateway.app import make_console
    from gateway.config import load_settings
    from storage.db import Database

    settings = load_settings(config, env={})
    db = Database(settings.database_url, reactor=reactor)
    db.start()
    _, pairs = demo_users()
    create_accounts(db, pairs)
    app = SimpleNamespace(db=db, reactor=reactor, report_api=_reports(db, settings))
    recordings = str(settings.ivr.recordings_path(settings.data_dir))
    root = Resource()
    root.putChild(b"console", make_console(app, settings, recordings, _cases(db, settings)))
    site = Site(root)
    site.displayTracebacks = False
    try:
        listening = reactor.listenTCP(port, site, interface="127.0.0.1")
    except CannotListenError:
        listening = reactor.listenTCP(0, site, interface="127.0.0.1")
    address = f"http://127.0.0.1:{listening.getHost().port}/console/"
    say("")
    say(f"The console (评警督察工作台) is at {address}")
    for user, password in pairs:
        unit = user.unit or "all units"
        say(f"  {user.role_label:<6} {user.name:<8} password {password}   ({unit})")
    say("Press Ctrl-C to stop.")
    say(f"(the same accounts sign in to the console of `pingjing run --config {config}`)")

    def cleanup(_: Any = None) -> Any:
        d = listening.stopListening()
        d.addBoth(lambda _: db.stop())
        return d

    if until is not None:
        await until
        await cleanup()
        return
    # Ctrl-C stops the reactor instead of raising KeyboardInterrupt out of it; shutdown waits
    # for the port and the database threads to close, so the process ends.
    signal.signal(signal.SIGINT, lambda *_: reactor.callFromThread(reactor.stop))
    reactor.addSystemEventTrigger("before", "shutdown", cleanup)
    await defer.Deferred()  # until the reactor stops


def _cases(db: Any, settings: Any) -> Any:
    """The API's case resource over the demo's database (the console uses its store, settings
    and evidence folder; it is not mounted as an API here)."""
    from gateway.http.cases import CasesResource
    from storage.case_store import SqlCaseStore

    evidence = str(Path(settings.data_dir) / "evidence")
    return CasesResource(
        SqlCaseStore(db, settings.cases), lambda _request: None, settings.cases, evidence
    )


def _reports(db: Any, settings: Any) -> Any:
    from gateway.http.reports import ReportApi
    from gateway.reports.settings import ReportSettings
    from storage.report_store import SqlReportStore

    reports = getattr(settings, "reports", None) or ReportSettings()
    return ReportApi(db, SqlReportStore(), reports, lambda _request: None)


def announce_accounts(config: Path, say: Callable[[str], None]) -> None:
    """Without ``--serve``: create the demo accounts and say where the console will be."""
    from gateway.config import load_settings
    from storage.db import Database

    settings = load_settings(config, env={})
    db = Database(settings.database_url)
    try:
        _, pairs = demo_users()
        create_accounts(db, pairs)
    finally:
        db.stop()
    say("")
    say(
        f"The console (评警督察工作台): `pingjing run --config {config}`, then "
        "http://127.0.0.1:8080/console/  (or `pingjing demo --serve`)"
    )
    for user, password in pairs:
        say(f"  {user.role_label:<6} {user.name:<8} password {password}   ({user.unit})")
