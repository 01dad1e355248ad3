"""Fixtures for the survey pipeline: a database on each back-end with a small unit tree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.surveys.settings import SurveySettings
from tests.surveys.support import make_db


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path) -> Iterator[object]:
    """A fresh database with units 3301 > 330102 > 330102001 and 3301 > 330103001."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'pingjing.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    database = make_db(url)
    try:
        yield database
    finally:
        database.stop()


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[object]:
    database = make_db(f"sqlite:///{tmp_path / 'pingjing.sqlite3'}")
    try:
        yield database
    finally:
        database.stop()


@pytest.fixture
def settings() -> SurveySettings:
    return SurveySettings()
