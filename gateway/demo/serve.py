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
    ConsoleUser("ducha", "inspector", "", "督察演示账号"),
    ConsoleUser("hongta", "handler", "530402000000", "红塔分局经办人"),
    ConsoleUser("chakan", "viewer", "530402000000", "红塔分局查看人员"),
)


def demo_users() -> tuple[MemoryUserDirectory, list[tuple[ConsoleUser, str]]]:
    pairs = [(user, secrets.token_urlsafe(9)) for user in DEMO_USERS]
    return MemoryUserDirectory(pairs), pairs


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
    users, pairs = demo_users()
    app = SimpleNamespace(db=db, console_users=users, reactor=reactor)
    recordings = str(settings.ivr.recordings_path(settings.data_dir))
    root = Resource()
    root.putChild(b"console", make_console(app, settings, recordings))
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
    stopped: defer.Deferred[None] = defer.Deferred()
    # Ctrl-C stops the reactor (and so the database threads) instead of raising
    # KeyboardInterrupt out of it, which would leave the pool's threads holding the process.
    signal.signal(signal.SIGINT, lambda *_: reactor.callFromThread(reactor.stop))
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: stopped.called or stopped.callback(None)
    )
    try:
        await stopped
    finally:
        await listening.stopListening()
        db.stop()
