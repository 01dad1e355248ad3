"""`pingjing users add|list|disable|token|passwd` against a real (SQLite) database."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gateway.accounts.credentials import token_hash, verify_password
from gateway.cli import main
from storage import user_store
from storage.db import Database

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    secret = tmp_path / "smpp.secret"
    secret.write_text("hunter2\n")
    path = tmp_path / "pingjing.toml"
    path.write_text(
        f'[service]\ndata_dir = "{tmp_path}"\n'
        f'[smpp]\nsystem_id = "pingjing"\npassword_file = "{secret}"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("PINGJING_CONFIG", raising=False)
    files = [str(REPO / "conf" / n) for n in ("units.csv", "officers.csv", "leaders.csv")]
    assert main(["units", "import", "--config", str(path), *files]) == 0
    return path


def database(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'pingjing.sqlite3'}")


def run(config: Path, *args: str, stdin: str = "", monkeypatch=None) -> int:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", args[0], "--config", str(config), *args[1:]])


def test_add_with_password_from_stdin_then_list_as_jsonl(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    args = ("add", "zhao", "--full-name", "赵督察", "--unit", "530400000000")
    assert (
        run(
            config,
            *args,
            "--role",
            "inspector",
            "--password-stdin",
            stdin="long enough pw\n",
            monkeypatch=monkeypatch,
        )
        == 0
    )
    capsys.readouterr()
    assert run(config, "list", "--format", "jsonl") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed == [
        {
            "name": "zhao",
            "full_name": "赵督察",
            "unit": "530400000000",
            "role": "inspector",
            "police_number": None,
            "disabled": False,
        }
    ]
    db = database(tmp_path)
    try:
        stored = db.run_sync(user_store.password_hash, "zhao")
    finally:
        db.stop()
    assert verify_password(stored, "long enough pw")[0]


def test_short_password_and_unknown_unit_are_refused(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    base = ("add", "qian", "--full-name", "钱", "--role", "handler")
    code = run(
        config,
        *base,
        "--unit",
        "530402501000",
        "--password-stdin",
        stdin="short\n",
        monkeypatch=monkeypatch,
    )
    assert code == 1 and "at least 8" in capsys.readouterr().err
    assert run(config, *base, "--unit", "NOPE", "--no-password") == 1
    assert "not in the registry" in capsys.readouterr().err


def test_token_is_printed_once_and_stored_hashed_and_disable_stops_it(
    config: Path, tmp_path: Path, capsys
) -> None:
    add = ("add", "sun", "--full-name", "孙", "--unit", "530402501000", "--role", "handler")
    assert run(config, *add, "--no-password") == 0
    capsys.readouterr()
    assert run(config, "token", "sun", "--label", "console") == 0
    secret = capsys.readouterr().out.splitlines()[-1]
    assert secret.startswith("pj_")
    db = database(tmp_path)
    try:
        assert db.run_sync(user_store.active_tokens)[token_hash(secret)].name == "sun"
        assert run(config, "disable", "sun") == 0
        assert db.run_sync(user_store.active_tokens) == {}
    finally:
        db.stop()
    assert run(config, "token", "--list") == 0
    listing = capsys.readouterr().out
    assert "console" in listing and secret not in listing


def test_passwd_sets_a_new_password(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add = ("add", "zhou", "--full-name", "周", "--unit", "530402000000", "--role", "leader")
    assert run(config, *add, "--no-password") == 0
    assert (
        run(
            config,
            "passwd",
            "zhou",
            "--password-stdin",
            stdin="new password 1\n",
            monkeypatch=monkeypatch,
        )
        == 0
    )
    db = database(tmp_path)
    try:
        assert verify_password(db.run_sync(user_store.password_hash, "zhou"), "new password 1")[0]
    finally:
        db.stop()
