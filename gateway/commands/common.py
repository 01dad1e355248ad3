"""What every command shares: the --config option and how it is resolved."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gateway.config import Settings, load_settings

DEFAULT_CONFIG = "conf/pingjing.toml"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("PINGJING_CONFIG"),
        help=f"configuration file (default: $PINGJING_CONFIG, else {DEFAULT_CONFIG} if present)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    path = args.config
    if path is None and Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
    return load_settings(path)


def open_database(settings: Settings, *, upgrade: bool = True):  # -> storage.db.Database
    """The configured database, migrated to the current schema (SQLite dir created)."""
    from storage import migrate
    from storage.db import Database, probe

    url = settings.database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    probe(url)
    if upgrade:
        migrate.upgrade(url)
    return Database(url, threads=settings.database.threads)
