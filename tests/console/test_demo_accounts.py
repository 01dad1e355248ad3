"""The demo creates a console account per role and prints how to sign in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from twisted.internet import defer

from gateway.console.accounts import AccountDirectory
from gateway.demo.run import prepare
from gateway.demo.serve import announce_accounts
from storage.user_store import SqlUserStore
from tests.callbacks.conftest import SyncDatabase


def result(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    return out[0]


def test_the_demo_prints_an_account_per_role_that_signs_in(tmp_path: Path) -> None:
    config = prepare(tmp_path / "demo", lambda _line: None)
    lines: list[str] = []
    announce_accounts(config, lines.append)
    assert any("http://127.0.0.1:8080/console/" in line for line in lines)
    found = re.findall(r"(\S+)\s+(\w+)\s+password (\S+)", "\n".join(lines))
    assert {role for role, _, _ in found} == {"督察", "单位经办人", "查看人员"}
    db = SyncDatabase(f"sqlite:///{tmp_path / 'demo' / 'pingjing.sqlite3'}")
    users = AccountDirectory(SqlUserStore(db), run_in_thread=defer.maybeDeferred)
    for _, name, password in found:
        user = result(users.verify(name, password))
        assert user is not None and user.name == name
    assert result(users.verify(found[0][1], "wrong-password")) is None
    db.dispose()
