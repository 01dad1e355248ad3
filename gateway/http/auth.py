"""Bearer tokens and what each may see.

A token (``gateway.config.ApiToken``: name, token, unit) without a unit belongs to the
inspectorate (督察) and sees every unit; a unit's token sees that unit and every unit below it.
Tokens are compared in constant time and never logged; only the token's name is.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from twisted.web.server import Request


class Principal(Protocol):
    """Who is asking; ``unit`` empty means the inspectorate (all units)."""

    name: str
    unit: str


Authenticate = Callable[[Request], Principal | None]


def bearer_authenticator(tokens: Iterable[Any]) -> Authenticate:
    """Match ``Authorization: Bearer <token>`` against the configured tokens."""
    known = [(t.token.encode("utf-8"), t) for t in tokens if t.token]

    def authenticate(request: Request) -> Principal | None:
        header = request.getHeader("authorization") or ""
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        candidate = presented.strip().encode("utf-8")
        found = None
        for secret, token in known:  # no early exit: timing does not reveal which matched
            if hmac.compare_digest(secret, candidate):
                found = token
        return found

    return authenticate


class UserTokenIndex:
    """Users' API tokens by their SHA-256, as loaded from the database.

    Authentication stays one synchronous dictionary read (the resources call it before
    anything else); :meth:`reload` replaces the whole index from
    ``UserStore.active_tokens()`` and runs at start-up and every
    ``http.user_tokens_refresh`` seconds, so a token made, revoked or a user disabled with
    ``pingjing users`` takes effect within that interval.
    """

    def __init__(self, store: Any = None) -> None:
        self._store = store
        self._by_hash: dict[str, Any] = {}

    def replace(self, by_hash: dict[str, Any]) -> None:
        self._by_hash = dict(by_hash)

    def reload(self) -> Any:  # Deferred[int]: the number of tokens loaded
        d = self._store.active_tokens()

        def loaded(by_hash: dict[str, Any]) -> int:
            self.replace(by_hash)
            return len(by_hash)

        return d.addCallback(loaded)

    def lookup(self, presented: str) -> Principal | None:
        from gateway.accounts.credentials import token_hash

        return self._by_hash.get(token_hash(presented))

    def __len__(self) -> int:
        return len(self._by_hash)


def combined_authenticator(tokens: Iterable[Any], users: UserTokenIndex) -> Authenticate:
    """The tokens file's machine tokens first, then users' tokens (a user is a Principal with
    a ``role``; a machine token has none)."""
    machines = bearer_authenticator(tokens)

    def authenticate(request: Request) -> Principal | None:
        found = machines(request)
        if found is not None:
            return found
        header = request.getHeader("authorization") or ""
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        return users.lookup(presented.strip())

    return authenticate
