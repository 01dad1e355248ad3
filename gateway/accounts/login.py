"""Signing in with a password (for the web console): one function, one answer.

Unknown user, disabled user and wrong password are the same refusal to the caller (no hint
which); a stored hash made with older argon2 parameters is replaced on a successful sign-in.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from gateway.accounts.credentials import hash_password, verify_password
from gateway.accounts.model import User
from gateway.accounts.store import UserStore


@defer.inlineCallbacks
def sign_in(store: UserStore, name: str, password: str) -> Any:  # Deferred[User | None]
    user: User | None = yield store.user(name)
    stored = yield store.password_hash(name)
    matches, rehash = verify_password(stored, password)
    if user is None or user.disabled or not matches:
        return None
    if rehash:
        yield store.set_password(name, hash_password(password))
    return user
