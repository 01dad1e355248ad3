"""Shared fixtures: the real PostgreSQL and RabbitMQ services, skipped or required.

Tests that need a service ask for the ``pg_url`` or ``amqp_params`` fixture. When the service is
unreachable the test is skipped with the command that starts it, unless
``PINGJING_REQUIRE_SERVICES=1`` is set (as ``.ci/run`` does): then it fails.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672

START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_RABBIT = "rabbitmq-server -detached"


def pytest_configure(config: pytest.Config) -> None:
    """Collect what the daemon logs during the session, and the configured secrets, for
    ``tests/test_log_scan.py`` (which is ordered last)."""
    from gateway.config import Settings
    from tests.logscan import SCAN

    SCAN.start()
    original = Settings.__init__
    if getattr(original, "_log_scan", False):
        return

    def recording_init(self: Settings, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        SCAN.remember_secrets(self.secret_values())

    recording_init._log_scan = True  # type: ignore[attr-defined]
    Settings.__init__ = recording_init  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log scan reads what the other tests logged: it runs after all of them."""
    last = [i for i in items if i.nodeid.endswith("test_log_scan.py::" + i.name)]
    items[:] = [i for i in items if i not in last] + last


def services_required() -> bool:
    return os.environ.get("PINGJING_REQUIRE_SERVICES") == "1"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def unavailable(what: str, how: str) -> None:
    """Skip (or, when services are required, fail) a test whose service is down."""
    message = f"{what} is not reachable; start it with: {how}"
    if services_required():
        pytest.fail(message + " (PINGJING_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    if not _port_open(PG_HOST, PG_PORT):
        unavailable(f"PostgreSQL on {PG_HOST}:{PG_PORT}", START_PG)
    return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test"


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"pingjing_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT} ({exc.__class__.__name__})", START_PG)
    url = pg_server_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each back-end in turn: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def amqp_params() -> dict[str, object]:
    if not _port_open(AMQP_HOST, AMQP_PORT):
        unavailable(f"RabbitMQ on {AMQP_HOST}:{AMQP_PORT}", START_RABBIT)
    return {
        "host": AMQP_HOST,
        "port": AMQP_PORT,
        "user": "guest",
        "password": "guest",
        "vhost": "/",
    }
