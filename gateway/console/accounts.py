"""The console's :class:`~gateway.console.users.UserDirectory` over the user accounts
(``gateway.accounts``: argon2 hashes in ``storage/user_store.py``).

The argon2 check runs on a worker thread so the reactor keeps serving while it works; an
unknown name is checked against a dummy hash so it costs as long as a wrong password. A
disabled account cannot sign in.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, threads

from gateway.accounts.credentials import hash_password, verify_password
from gateway.accounts.store import UserStore
from gateway.console.users import ConsoleUser


class AccountDirectory:
    def __init__(self, store: UserStore, run_in_thread: Any = threads.deferToThread) -> None:
        self.store = store
        self.run_in_thread = run_in_thread
        self._dummy: str | None = None

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = hash_password("not-a-real-password-at-all")
        return self._dummy

    def verify(self, name: str, password: str) -> defer.Deferred[ConsoleUser | None]:
        d = defer.gatherResults([self.store.user(name), self.store.password_hash(name)])

        def check(found: list[Any]) -> Any:
            user, stored = found
            if user is None or not stored:
                d2 = self.run_in_thread(verify_password, self._dummy_hash(), password)
                return d2.addCallback(lambda _: None)

            def decide(result: tuple[bool, bool]) -> ConsoleUser | None:
                if not result[0] or user.disabled:
                    return None
                return ConsoleUser(user.name, str(user.role), user.unit, user.full_name)

            return self.run_in_thread(verify_password, stored, password).addCallback(decide)

        return d.addCallback(check)
