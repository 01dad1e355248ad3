"""A database on each back-end with the survey tests' unit tree, and people to act."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.accounts.model import Role, User
from tests.surveys.support import make_db

CITY, SUB, STATION, OTHER = "3301", "330102", "330102001", "330103001"
INSPECTOR = User(1, "du.cha", "督察甲", CITY, Role.INSPECTOR)
SUB_INSPECTOR = User(2, "fen.ju", "督察乙", SUB, Role.INSPECTOR)
HANDLER = User(3, "zheng.gai", "整改员", SUB, Role.HANDLER)
FOREIGN_HANDLER = User(4, "hu.bin", "湖滨", OTHER, Role.HANDLER)
LEADER = User(5, "ling.dao", "领导", SUB, Role.LEADER)
VIEWER = User(6, "kan.kan", "查看", CITY, Role.VIEWER)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path) -> Iterator[object]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'pingjing.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    database = make_db(url)
    try:
        yield database
    finally:
        database.stop()
