"""Console sessions and the brake on guessed passwords.

Sessions live in the daemon's memory: a restart signs everyone out, which a console used in
office hours can afford, and no session secret is ever written to disk. A session ends after
``idle`` seconds without a request, or at sign-out. Each carries its own CSRF token, which
every form posts back.

:class:`LoginThrottle` counts failed sign-ins per account name and per client address; after
``free`` failures each further attempt is answered only after a delay that doubles up to
``cap`` seconds, and every failure is logged (never the password).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, task
from twisted.logger import Logger

from gateway.console.users import ConsoleUser

log = Logger()


@dataclass
class Session:
    ident: str
    user: ConsoleUser
    csrf: str
    last_seen: float
    flash: list[str] = field(default_factory=list)

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf, presented or "")


class SessionStore:
    def __init__(self, clock: Any, idle: float = 30 * 60) -> None:
        self.clock = clock
        self.idle = idle
        self._sessions: dict[str, Session] = {}

    def create(self, user: ConsoleUser) -> Session:
        self._expire()
        session = Session(
            secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), self.clock.seconds()
        )
        self._sessions[session.ident] = session
        return session

    def get(self, ident: str | None) -> Session | None:
        """The live session for a cookie value, touched; None if unknown or idle too long."""
        if not ident:
            return None
        session = self._sessions.get(ident)
        if session is None:
            return None
        now = self.clock.seconds()
        if now - session.last_seen > self.idle:
            del self._sessions[ident]
            return None
        session.last_seen = now
        return session

    def end(self, ident: str | None) -> None:
        if ident:
            self._sessions.pop(ident, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        now = self.clock.seconds()
        for ident in [i for i, s in self._sessions.items() if now - s.last_seen > self.idle]:
            del self._sessions[ident]


class LoginThrottle:
    def __init__(self, clock: Any, free: int = 3, base: float = 1.0, cap: float = 30.0) -> None:
        self.clock = clock
        self.free, self.base, self.cap = free, base, cap
        self._failures: dict[str, int] = {}

    def delay(self, name: str, address: str) -> float:
        """Seconds to wait before checking this attempt's password."""
        count = max(self._failures.get(f"n:{name}", 0), self._failures.get(f"a:{address}", 0))
        if count < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (count - self.free))

    def wait(self, name: str, address: str) -> defer.Deferred[None]:
        seconds = self.delay(name, address)
        if not seconds:
            return defer.succeed(None)
        return task.deferLater(self.clock, seconds, lambda: None)

    def failed(self, name: str, address: str) -> int:
        for key in (f"n:{name}", f"a:{address}"):
            self._failures[key] = self._failures.get(key, 0) + 1
        count = self._failures[f"n:{name}"]
        log.warn(
            "console: sign-in failed for {name!r} from {address} ({count} in a row)",
            name=name[:64],
            address=address,
            count=count,
        )
        return count

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop(f"n:{name}", None)
        self._failures.pop(f"a:{address}", None)
