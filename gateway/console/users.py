"""Who may sign in to the console: the one question the console asks of the user accounts.

The console needs only "is this name and password right, and if so which role and unit": the
:class:`UserDirectory` Protocol. The accounts service (``gateway/accounts``) answers it in the
daemon; :class:`MemoryUserDirectory` answers it in tests and the demo, with scrypt hashes so no
password is ever held in the clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from twisted.internet import defer

#: The roles of ``gateway.accounts.model.Role`` and their Chinese names.
ROLES = {"inspector": "督察", "handler": "单位经办人", "leader": "单位领导", "viewer": "查看人员"}


@dataclass(frozen=True)
class ConsoleUser:
    """A signed-in person. ``unit`` empty: every unit (the inspectorate)."""

    name: str
    role: str
    unit: str = ""
    display: str = ""

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)


class UserDirectory(Protocol):
    def verify(self, name: str, password: str) -> defer.Deferred[ConsoleUser | None]:
        """The user when ``password`` is theirs, else None (unknown name or wrong password)."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt_hex, _, digest_hex = rest.partition("$")
    if scheme != "scrypt" or not salt_hex or not digest_hex:
        return False
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1
    )
    return hmac.compare_digest(digest.hex(), digest_hex)


# Checked against for unknown names, so that a wrong name costs as long as a wrong password.
_DUMMY = hash_password(secrets.token_hex(8))


class MemoryUserDirectory:
    """A :class:`UserDirectory` over ``(user, password)`` pairs, kept as hashes."""

    def __init__(self, users: Iterable[tuple[ConsoleUser, str]] = ()) -> None:
        self._users: dict[str, tuple[ConsoleUser, str]] = {}
        for user, password in users:
            self.add(user, password)

    def add(self, user: ConsoleUser, password: str) -> None:
        if user.role not in ROLES:
            raise ValueError(f"unknown role {user.role!r}; one of {', '.join(ROLES)}")
        self._users[user.name] = (user, hash_password(password))

    def verify(self, name: str, password: str) -> defer.Deferred[ConsoleUser | None]:
        found = self._users.get(name)
        ok = check_password(password, found[1] if found else _DUMMY)
        return defer.succeed(found[0] if found and ok else None)
