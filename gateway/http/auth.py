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
