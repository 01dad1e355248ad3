"""``pingjing export surveys|callbacks``: flat records for supervisors, JSON lines or CSV.

Phones are masked at the source (``storage.survey_export.survey_records``,
``storage.callback_export.callback_records``); dates are local (``service.timezone``).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO


def register(subparsers: argparse._SubParsersAction) -> None:
    from gateway.commands.common import add_config_option

    parser = subparsers.add_parser("export", help="export surveys or callbacks")
    sub = parser.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    surveys = sub.add_parser("surveys", help="one record per service event")
    callbacks = sub.add_parser("callbacks", help="one record per callback task")
    for p in (surveys, callbacks):
        add_config_option(p)
        p.add_argument("--from", dest="start", metavar="DATE", help="from this local date")
        p.add_argument("--to", dest="end", metavar="DATE", help="up to this date, inclusive")
        p.add_argument("--unit", metavar="CODE", help="this unit and the units below it")
        p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    callbacks.add_argument("--status", help="only tasks in this status")
    surveys.set_defaults(func=export_surveys)
    callbacks.set_defaults(func=export_callbacks)


def _text(value: Any, zone: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    return value


def write_records(
    records: Iterable[dict[str, Any]], fields: Sequence[str], fmt: str, zone: Any, out: TextIO
) -> int:
    count = 0
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
    for record in records:
        row = {k: _text(record.get(k), zone) for k in fields}
        if writer is not None:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def _run(args: argparse.Namespace, query: Any, fields: Sequence[str]) -> int:
    from gateway.callbacks.export import ExportQueryError, parse_bound
    from gateway.commands.common import open_database, settings_from

    settings = settings_from(args)
    zone = settings.service.zone
    try:
        start = args.start and parse_bound(args.start, zone, end=False, what="--from")
        end = args.end and parse_bound(args.end, zone, end=True, what="--to")
    except ExportQueryError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
    db = open_database(settings)
    try:
        with db.sessions() as session:
            try:
                records = query(session, start or None, end or None)
                first = next(records, None)
            except ExportQueryError as exc:
                print(f"export: {exc}", file=sys.stderr)
                return 2
            if hasattr(sys.stdout, "reconfigure"):
                sys.stdout.reconfigure(encoding="utf-8")
            head = [first] if first is not None else []
            write_records(itertools.chain(head, records), fields, args.format, zone, sys.stdout)
    finally:
        db.stop()
    return 0


def export_surveys(args: argparse.Namespace) -> int:
    from storage.callback_export import unit_scope
    from storage.survey_export import EXPORT_FIELDS, survey_records

    def query(session: Any, start: Any, end: Any) -> Any:
        unit_ids = unit_scope(session, args.unit)
        return iter(survey_records(session, start, end, unit_ids))

    return _run(args, query, EXPORT_FIELDS)


def export_callbacks(args: argparse.Namespace) -> int:
    from storage.callback_export import FIELDS, callback_records

    def query(session: Any, start: Any, end: Any) -> Any:
        return iter(callback_records(session, start, end, args.unit, args.status))

    return _run(args, query, FIELDS)
