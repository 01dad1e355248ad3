"""Users, passwords and tokens stored on SQLite and PostgreSQL, and the in-memory twin."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.accounts.credentials import (
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from gateway.accounts.model import AccountError, Role
from gateway.accounts.store import MemoryUserStore, NewUser
from storage import migrate, user_store
from storage.account_models import UnitLeader, UserAccount, UserToken
from storage.db import Database
from storage.unit_leaders import leaders_of
from storage.units import import_file

UNITS = (
    "code,name,kind,parent_code\nC,市局,city_bureau,\nS1,分局,sub_bureau,C\nP1,派出所,station,S1\n"
)
OFFICERS = "police_number,name,unit_code\n001,甲,S1\n002,乙,S1\n003,丙,P1\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    migrate.upgrade(url)
    database = Database(url)
    database.run_sync(import_file, UNITS, "u.csv")
    database.run_sync(import_file, OFFICERS, "o.csv")
    yield database
    database.stop()


def inspector(name: str = "li.qiang", unit: str = "S1", password: str | None = None) -> NewUser:
    return NewUser(
        name,
        "李强",
        unit,
        Role.INSPECTOR,
        "530001",
        hash_password(password) if password else None,
    )


def test_add_list_and_get_a_user(db: Database) -> None:
    created = db.run_sync(user_store.add_user, inspector())
    assert (created.name, created.unit, created.role, created.disabled) == (
        "li.qiang",
        "S1",
        Role.INSPECTOR,
        False,
    )
    assert db.run_sync(user_store.get_user, "li.qiang") == created
    assert db.run_sync(user_store.list_users, ["P1"]) == []
    assert db.run_sync(user_store.list_users, None) == [created]


def test_duplicate_name_and_unknown_unit_are_refused(db: Database) -> None:
    db.run_sync(user_store.add_user, inspector())
    with pytest.raises(AccountError, match="already exists"):
        db.run_sync(user_store.add_user, inspector())
    with pytest.raises(AccountError, match="not in the registry"):
        db.run_sync(user_store.add_user, inspector("x.y", unit="NOPE"))


def test_password_is_stored_as_argon2_and_verified(db: Database) -> None:
    db.run_sync(user_store.add_user, inspector(password="correct horse"))
    stored = db.run_sync(user_store.password_hash, "li.qiang")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert verify_password(stored, "correct horse") == (True, False)
    assert verify_password(stored, "wrong horse")[0] is False
    db.run_sync(user_store.set_password, "li.qiang", hash_password("battery staple"))
    assert verify_password(db.run_sync(user_store.password_hash, "li.qiang"), "battery staple")[0]


def test_tokens_are_stored_hashed_and_stop_with_revocation_or_disabling(db: Database) -> None:
    db.run_sync(user_store.add_user, inspector())
    secret = new_token()
    info = db.run_sync(user_store.add_token, "li.qiang", "console", token_hash(secret))
    stored = db.run_sync(lambda s: list(s.scalars(sa.select(UserToken.token_hash))))
    assert stored == [token_hash(secret)] and secret not in stored
    assert db.run_sync(user_store.active_tokens)[token_hash(secret)].name == "li.qiang"
    db.run_sync(user_store.set_disabled, "li.qiang", True)
    assert db.run_sync(user_store.active_tokens) == {}
    db.run_sync(user_store.set_disabled, "li.qiang", False)
    assert len(db.run_sync(user_store.active_tokens)) == 1
    db.run_sync(user_store.revoke_token, info.id)
    assert db.run_sync(user_store.active_tokens) == {}
    assert db.run_sync(user_store.token_list, "li.qiang")[0]["revoked"] is True


def test_leaders_import_replaces_a_units_list(db: Database) -> None:
    text = "unit_code,police_number,role\nS1,001,主要领导\nS1,002,分管领导\nP1,003,principal\n"
    report = db.run_sync(import_file, text, "l.csv")
    assert (report.kind, report.created, report.errors) == ("leaders", 3, [])
    again = db.run_sync(import_file, text, "l.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    changed = db.run_sync(import_file, "unit_code,police_number,role\nS1,002,主要领导\n", "l.csv")
    assert (changed.created, changed.updated) == (1, 2)
    ids = db.run_sync(lambda s: dict(s.execute(sa.text("select code, id from units")).all()))
    leaders = db.run_sync(leaders_of, [ids["S1"], ids["P1"]])
    assert leaders[ids["S1"]] == [{"police_number": "002", "name": "乙", "role": "principal"}]
    assert leaders[ids["P1"]][0]["role"] == "principal"
    assert db.run_sync(lambda s: s.scalar(sa.select(sa.func.count()).select_from(UnitLeader))) == 2


def test_leaders_import_reports_bad_rows(db: Database) -> None:
    text = "unit_code,police_number,role\nNOPE,001,主要领导\nS1,999,分管领导\nS1,001,局长\n"
    report = db.run_sync(import_file, text, "l.csv")
    assert report.created == 0 and len(report.errors) == 3
    assert "NOPE" in report.errors[0] and "999" in report.errors[1] and "局长" in report.errors[2]


def test_memory_store_behaves_like_the_sql_one() -> None:
    """The in-memory twin refuses and answers as the SQL store does."""
    store = MemoryUserStore(units=["S1"])
    user = store.add_user(inspector()).result
    assert store.add_user(inspector()).result.check(AccountError)
    assert store.add_token("li.qiang", "api", token_hash("t")).result.label == "api"
    assert store.active_tokens().result == {token_hash("t"): user}
    store.set_disabled("li.qiang", True)
    assert store.active_tokens().result == {}


def test_account_rows_never_hold_a_plain_password(db: Database) -> None:
    db.run_sync(user_store.add_user, inspector(password="s3cret-pass"))
    row = db.run_sync(lambda s: s.scalar(sa.select(UserAccount.password_hash)))
    assert "s3cret-pass" not in row
