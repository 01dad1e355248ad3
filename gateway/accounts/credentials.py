"""API tokens and passwords: how they are made, stored and compared. Nothing here logs.

* Tokens are random (256 bits) and stored as their SHA-256: a token has the entropy of a key,
  so a slow hash adds nothing, and a lookup by hash keeps authentication one dictionary read.
* Passwords are chosen by people and stored as argon2id hashes (argon2-cffi, its defaults
  follow RFC 9106's recommendation); :func:`verify_password` also says when a stored hash
  should be upgraded after the library's parameters change.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "pj_"
MIN_PASSWORD = 8


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _hasher():  # -> argon2.PasswordHasher; imported late: the daemon need not load it
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """``(matches, needs_rehash)``; a user without a password never matches."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if not stored:
        return False, False
    hasher = _hasher()
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, hasher.check_needs_rehash(stored)
