"""The console signs in against the user accounts (argon2), refusing wrong and disabled ones."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from gateway.accounts.credentials import hash_password
from gateway.accounts.model import Role
from gateway.accounts.store import MemoryUserStore, NewUser
from gateway.console.accounts import AccountDirectory
from gateway.console.users import ConsoleUser


def result(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    return out[0]


def directory() -> tuple[AccountDirectory, MemoryUserStore]:
    store = MemoryUserStore(units=["C0", "S1"])
    for name, unit, role in (("insp", "C0", Role.INSPECTOR), ("h1", "S1", Role.HANDLER)):
        store.add_user(
            NewUser(name, f"{name} 全名", unit, role, password_hash=hash_password("pw-12345678"))
        )
    return AccountDirectory(store, run_in_thread=defer.maybeDeferred), store


def test_the_right_password_gives_the_accounts_role_and_unit() -> None:
    users, _ = directory()
    assert result(users.verify("h1", "pw-12345678")) == ConsoleUser(
        "h1", "handler", "S1", "h1 全名"
    )


def test_a_wrong_password_an_unknown_name_and_a_disabled_account_are_refused() -> None:
    users, store = directory()
    assert result(users.verify("h1", "wrong-password")) is None
    assert result(users.verify("nobody", "pw-12345678")) is None
    store.set_disabled("insp", True)
    assert result(users.verify("insp", "pw-12345678")) is None
