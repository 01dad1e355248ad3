"""The service tree: built from the example configuration, refusing an outdated schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import make_service
from gateway.config import load_settings
from storage import migrate

REPO = Path(__file__).resolve().parents[2]


def settings_for(tmp_path: Path, **env: str):
    base = {
        "PINGJING_SERVICE_DATA_DIR": str(tmp_path),
        "PINGJING_HTTP_ENDPOINT": "tcp:port=0:interface=127.0.0.1",
    }
    return load_settings(REPO / "conf" / "pingjing.toml", env={**base, **env})


def test_tree_has_every_part_in_start_order(tmp_path: Path) -> None:
    """Database first, links next, workers after them, the HTTP API last; no broker by default."""
    settings = settings_for(tmp_path)
    migrate.upgrade(settings.database_url)
    app = make_service(settings)
    names = [service.name for service in app]
    assert names[0] == "database"
    assert names.index("smpp") < names.index("surveys")
    assert names[-1] == "http"
    assert app.amqp is None


def test_broker_consumer_is_added_when_enabled(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PINGJING_AMQP_ENABLED="true")
    migrate.upgrade(settings.database_url)
    app = make_service(settings)
    assert app.amqp is not None and app.amqp.parent is app


def test_outdated_schema_stops_start_up_with_the_command_to_run(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    migrate.upgrade(settings.database_url, "0001")
    with pytest.raises(SystemExit, match="pingjing db upgrade"):
        make_service(settings)


def test_database_outlives_the_workers_when_stopping(tmp_path: Path) -> None:
    """A worker still finishing its last transaction must find the database open."""
    from twisted.application.service import Service
    from twisted.internet import defer

    settings = settings_for(tmp_path, PINGJING_HTTP_ENABLED="false")
    migrate.upgrade(settings.database_url)
    app = make_service(settings)
    finishing: defer.Deferred[None] = defer.Deferred()
    seen: list[bool] = []

    class SlowWorker(Service):
        name = "slow"

        def stopService(self) -> defer.Deferred[None]:
            super().stopService()
            return finishing

    for child in list(app):
        if child.name != "database":
            child.disownServiceParent()
    SlowWorker().setServiceParent(app)
    app.startService()
    stopped = app.stopService()
    seen.append(app.db._stopped)
    finishing.callback(None)
    seen.append(app.db._stopped)
    assert stopped.called
    assert seen == [False, True]
