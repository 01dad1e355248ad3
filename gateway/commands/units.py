"""``pingjing units``: the registry of units and officers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.commands.common import add_config_option, open_database, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("units", help="import and list units and officers")
    sub = parser.add_subparsers(dest="units_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="load units and/or officers from CSV files")
    add_config_option(imp)
    imp.add_argument("files", nargs="+", metavar="FILE.csv")
    imp.set_defaults(func=import_units)
    lst = sub.add_parser("list", help="print the unit tree")
    add_config_option(lst)
    lst.set_defaults(func=list_units)


def import_units(args: argparse.Namespace) -> int:
    from storage.units import RegistryFormatError, import_file

    db = open_database(settings_from(args))
    failed = False
    try:
        for name in args.files:
            try:
                text = Path(name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                print(f"{name}: cannot read: {exc}", file=sys.stderr)
                failed = True
                continue
            try:
                report = db.run_sync(import_file, text, name)
            except RegistryFormatError as exc:
                print(str(exc), file=sys.stderr)
                failed = True
                continue
            for error in report.errors:
                print(error, file=sys.stderr)
            print(report.summary())
            failed = failed or bool(report.errors)
    finally:
        db.stop()
    return 1 if failed else 0


def list_units(args: argparse.Namespace) -> int:
    from storage.units import unit_tree_lines

    db = open_database(settings_from(args))
    try:
        lines = db.run_sync(unit_tree_lines)
    finally:
        db.stop()
    print("\n".join(lines) if lines else "(no units: load them with `pingjing units import`)")
    return 0
