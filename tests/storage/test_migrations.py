"""The same migrations build the same schema on SQLite and PostgreSQL, both ways."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage import migrate
from storage.db import make_engine
from storage.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.sqlite3'}"
    return request.getfixturevalue("pg_url")


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    """`db upgrade` on an empty database yields every table the models declare."""
    migrate.upgrade(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)
    assert migrate.is_up_to_date(db_url)


def test_downgrade_one_step_then_upgrade_again(db_url: str) -> None:
    """A release can be rolled back one step and forward again without leftovers."""
    migrate.upgrade(db_url)
    head = migrate.current_revision(db_url)
    migrate.downgrade(db_url, "-1")
    assert migrate.current_revision(db_url) != head
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == head
    assert _tables(db_url) == set(Base.metadata.tables)


def test_migrations_match_the_models(db_url: str) -> None:
    """A model change without its migration is caught here, on both back-ends."""
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
