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


def _partial_indexes_and_fillfactor(url: str) -> tuple[dict[str, str], list[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            indexes = dict(
                conn.execute(
                    sa.text(
                        "SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE tablename IN ('surveys', 'inbound_messages')"
                    )
                ).all()
            )
            options = conn.scalar(
                sa.text("SELECT reloptions FROM pg_class WHERE relname = 'inbound_deliveries'")
            )
    finally:
        engine.dispose()
    return indexes, options or []


def test_migrations_and_models_agree_on_what_alembic_does_not_compare(pg_url: str) -> None:
    """A partial index's condition and a table's fillfactor: the same after `db upgrade` as
    after creating the tables from the models (migration 0013)."""
    migrate.upgrade(pg_url)
    migrated = _partial_indexes_and_fillfactor(pg_url)
    engine = make_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    created = _partial_indexes_and_fillfactor(pg_url)
    assert migrated == created
    indexes, options = created
    assert "ix_surveys_reply_address" not in indexes
    held = indexes["ix_inbound_messages_held_source_addr"]
    assert "WHERE ((match_status)::text = 'held'::text)" in held
    assert options == ["fillfactor=45"]
