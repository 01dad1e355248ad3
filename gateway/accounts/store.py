"""What accounts need stored, as an interface, and an in-memory version for tests.

``storage/user_store.py`` implements it over SQL. Every method is one transaction and returns
a Deferred; passwords and tokens arrive already hashed (``gateway.accounts.credentials``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from twisted.internet import defer

from gateway.accounts.model import AccountError, Role, User


@dataclass(frozen=True)
class NewUser:
    name: str
    full_name: str
    unit: str
    role: Role
    police_number: str | None = None
    password_hash: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    label: str
    revoked: bool


class UserStore(Protocol):
    def add_user(self, new: NewUser) -> defer.Deferred[User]:
        """Raises :class:`AccountError` for a taken name or an unknown unit."""

    def users(self, unit_codes: Sequence[str] | None = None) -> defer.Deferred[list[User]]:
        """Every user, or those of the given units, by name."""

    def user(self, name: str) -> defer.Deferred[User | None]: ...

    def set_disabled(self, name: str, disabled: bool) -> defer.Deferred[User]: ...

    def set_password(self, name: str, password_hash: str) -> defer.Deferred[None]: ...

    def password_hash(self, name: str) -> defer.Deferred[str | None]: ...

    def add_token(self, name: str, label: str, token_hash: str) -> defer.Deferred[TokenInfo]: ...

    def revoke_token(self, token_id: int) -> defer.Deferred[TokenInfo]: ...

    def active_tokens(self) -> defer.Deferred[dict[str, User]]:
        """token hash -> its user, for every token not revoked whose user is not disabled."""


class MemoryUserStore:
    def __init__(self, units: Sequence[str] = ()) -> None:
        self.units = set(units)
        self._users: dict[str, User] = {}
        self._passwords: dict[str, str | None] = {}
        self._tokens: dict[int, tuple[TokenInfo, str]] = {}
        self._ids = itertools.count(1)

    def _get(self, name: str) -> User:
        if name not in self._users:
            raise AccountError(f"no user {name!r}")
        return self._users[name]

    def add_user(self, new: NewUser) -> defer.Deferred[User]:
        if new.name in self._users:
            return defer.fail(AccountError(f"user {new.name!r} already exists"))
        if self.units and new.unit not in self.units:
            return defer.fail(AccountError(f"unit {new.unit!r} is not in the registry"))
        user = User(next(self._ids), new.name, new.full_name, new.unit, new.role, new.police_number)
        self._users[new.name] = user
        self._passwords[new.name] = new.password_hash
        return defer.succeed(user)

    def users(self, unit_codes: Sequence[str] | None = None) -> defer.Deferred[list[User]]:
        found = [
            u
            for _, u in sorted(self._users.items())
            if unit_codes is None or u.unit in set(unit_codes)
        ]
        return defer.succeed(found)

    def user(self, name: str) -> defer.Deferred[User | None]:
        return defer.succeed(self._users.get(name))

    def set_disabled(self, name: str, disabled: bool) -> defer.Deferred[User]:
        try:
            user = replace(self._get(name), disabled=disabled)
        except AccountError as exc:
            return defer.fail(exc)
        self._users[name] = user
        return defer.succeed(user)

    def set_password(self, name: str, password_hash: str) -> defer.Deferred[None]:
        try:
            self._get(name)
        except AccountError as exc:
            return defer.fail(exc)
        self._passwords[name] = password_hash
        return defer.succeed(None)

    def password_hash(self, name: str) -> defer.Deferred[str | None]:
        return defer.succeed(self._passwords.get(name))

    def add_token(self, name: str, label: str, token_hash: str) -> defer.Deferred[TokenInfo]:
        try:
            self._get(name)
        except AccountError as exc:
            return defer.fail(exc)
        info = TokenInfo(next(self._ids), name, label, False)
        self._tokens[info.id] = (info, token_hash)
        return defer.succeed(info)

    def revoke_token(self, token_id: int) -> defer.Deferred[TokenInfo]:
        if token_id not in self._tokens:
            return defer.fail(AccountError(f"no token {token_id}"))
        info, digest = self._tokens[token_id]
        info = replace(info, revoked=True)
        self._tokens[token_id] = (info, digest)
        return defer.succeed(info)

    def active_tokens(self) -> defer.Deferred[dict[str, User]]:
        return defer.succeed(
            {
                digest: self._users[info.user]
                for info, digest in self._tokens.values()
                if not info.revoked and not self._users[info.user].disabled
            }
        )
