"""``pingjing events import FILE``: the file door (CSV or JSON lines) into the same intake.

Prints accepted / duplicate / rejected counts (and the decisions), and writes every rejected
line with its reason next to the input (``FILE.rejected.csv`` or ``FILE.rejected.jsonl``), so
nothing is lost and the rejects can be fixed and imported again.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from gateway.commands.common import add_config_option, open_database, settings_from
from storage.events_store import SqlEventStore

CHUNK = 500


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("events", help="service events: import a file")
    sub = parser.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="import events from a CSV or JSON-lines file")
    add_config_option(imp)
    imp.add_argument("file", metavar="FILE", help="FILE.csv, or JSON lines (.jsonl/.ndjson)")
    imp.add_argument(
        "--format", choices=("auto", "csv", "jsonl"), default="auto", help="default: by content"
    )
    imp.set_defaults(func=import_events)


def detect_format(path: Path, text: str) -> str:
    if path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def read_items(text: str, fmt: str) -> tuple[list[tuple[int, str, Any]], list[str] | None]:
    """(line number, raw line, decoded item or an exception) per record; CSV header too."""
    from gateway.events.schema import EventInvalidError, decode_json_event, read_csv_text

    if fmt == "csv":
        header = next(csv.reader([text.splitlines()[0]])) if text.strip() else []
        return [(n, raw, item) for n, raw, item in read_csv_text(text)], header
    items: list[tuple[int, str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, line, decode_json_event(line)))
        except EventInvalidError as exc:
            items.append((number, line, exc))
    return items, None


def import_events(args: argparse.Namespace) -> int:
    from gateway.events.results import REJECTED
    from gateway.events.schema import EventInvalidError
    from gateway.surveys.intake import EventIntake

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read as UTF-8: {exc}", file=sys.stderr)
        return 2
    fmt = detect_format(path, text) if args.format == "auto" else args.format
    settings = settings_from(args)
    items, header = read_items(text, fmt)
    db = open_database(settings)
    intake = EventIntake(db, settings.survey, store=SqlEventStore())
    counts: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    rejected: list[tuple[int, str, str]] = []
    try:
        pending: list[tuple[int, str, Any]] = []

        def flush() -> None:
            if not pending:
                return
            results = intake.store_sync([event for _, _, event in pending], "file")
            for (number, raw, _), result in zip(pending, results, strict=True):
                counts[result.status] += 1
                if result.decision:
                    decisions[result.decision] += 1
                if result.status == REJECTED or result.differs:
                    rejected.append((number, raw, result.reason or "rejected"))
            pending.clear()

        for number, raw, item in items:
            try:
                if isinstance(item, EventInvalidError):
                    raise item
                event = intake.validate(item)
            except EventInvalidError as exc:
                counts[REJECTED] += 1
                rejected.append((number, raw, exc.reason))
                continue
            pending.append((number, raw, event))
            if len(pending) >= CHUNK:
                flush()
        flush()
    finally:
        db.stop()
    if rejected:
        out = write_rejects(path, fmt, header, rejected)
        print(f"rejected lines with reasons: {out}")
    print(
        f"{path}: {counts['accepted']} accepted, {counts['duplicate']} duplicate, "
        f"{counts['rejected']} rejected"
    )
    if decisions:
        print("decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())))
    return 1 if rejected else 0


def write_rejects(
    path: Path, fmt: str, header: list[str] | None, rejected: list[tuple[int, str, str]]
) -> Path:
    if fmt == "csv":
        out = path.with_name(path.name + ".rejected.csv")
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "reason", *(header or [])])
            for number, raw, reason in rejected:
                writer.writerow([number, reason, *next(csv.reader([raw]), [])])
        return out
    out = path.with_name(path.name + ".rejected.jsonl")
    with out.open("w", encoding="utf-8") as fh:
        for number, raw, reason in rejected:
            record = {"line": number, "reason": reason, "input": raw}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out
