"""``pingjing db``: schema migrations."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gateway.commands.common import add_config_option, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="database schema: upgrade, downgrade, current")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, helptext in (
        ("upgrade", "apply migrations up to REVISION (default: head)"),
        ("downgrade", "revert migrations down to REVISION (e.g. -1)"),
        ("current", "print the schema revision of the database"),
    ):
        p = sub.add_parser(name, help=helptext)
        add_config_option(p)
        if name != "current":
            p.add_argument("revision", nargs="?", default="head" if name == "upgrade" else "-1")
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from storage import migrate
    from storage.db import probe

    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = settings_from(args)
    url = settings.database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    probe(url)
    if args.db_command == "upgrade":
        migrate.upgrade(url, args.revision)
    elif args.db_command == "downgrade":
        migrate.downgrade(url, args.revision)
    revision = migrate.current_revision(url)
    state = "up to date" if revision == migrate.head_revision() else "not at head"
    print(f"schema revision: {revision or '(empty)'} ({state})")
    return 0
