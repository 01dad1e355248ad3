"""``make_service(settings)``: the daemon as a tree of Twisted services.

Start-up order is the tree's order: the database pool first, then the links to peers, then the
workers that use them, then the HTTP API. Stopping runs in reverse, so workers stop taking new work
before the links they use close.
"""

from __future__ import annotations

from twisted.application.service import MultiService, Service
from twisted.logger import Logger

from gateway.config import Settings
from storage.db import Database

log = Logger()


class DatabaseService(Service):
    """Owns the database thread pool for the life of the daemon."""

    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    def startService(self) -> None:
        super().startService()
        self.db.start()

    def stopService(self) -> None:
        super().stopService()
        self.db.stop()


def make_service(settings: Settings) -> MultiService:
    from storage import migrate

    url = settings.database_url
    if not migrate.is_up_to_date(url):
        raise SystemExit(
            f"pingjing: the database schema is not current; run `pingjing db upgrade --config "
            f"{settings.source}` first"
        )
    root = MultiService()
    db = Database(url, threads=settings.database.threads)
    DatabaseService(db).setServiceParent(root)
    return root
