"""``pingjing cases``: the supervision cases from the command line.

Listing and showing without ``--as`` reads as the operator (every unit). Every action names
the user it is done as (``--as NAME``): the same permission check as the API applies, and the
timeline records that user.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.commands.common import add_config_option, open_database, settings_from


class Operator:
    """Whoever runs the command with database access: reads every unit, acts on nothing."""

    name = "operator"
    unit = ""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cases", help="supervision cases: list, show, work them")
    sub = parser.add_subparsers(dest="cases_command", metavar="ACTION", required=True)

    def command(name: str, helptext: str, func: Any, *, case: bool = True, actor: bool = True):
        p = sub.add_parser(name, help=helptext)
        add_config_option(p)
        if case:
            p.add_argument("case_id", type=int, metavar="ID")
        p.add_argument(
            "--as",
            dest="user",
            required=actor,
            metavar="USER",
            help="the user acting (a `pingjing users` name)",
        )
        p.set_defaults(func=func)
        return p

    lst = command("list", "list cases (newest first)", list_cases, case=False, actor=False)
    lst.add_argument("--unit", metavar="CODE")
    lst.add_argument("--state", action="append", default=[], help="repeat for several")
    lst.add_argument("--overdue", action="store_true", help="only overdue cases")
    lst.add_argument("--inbox", action="store_true", help="only what --as USER's role moves on")
    lst.add_argument("--from", dest="start", metavar="DATE")
    lst.add_argument("--to", dest="end", metavar="DATE")
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--format", choices=["table", "jsonl"], default="table")

    show = command("show", "a case with its timeline", show_case, actor=False)
    show.add_argument("--format", choices=["text", "json"], default="text")

    verify = command("verify", "start verifying, or record the finding", act_verify)
    finding = verify.add_mutually_exclusive_group()
    finding.add_argument("--substantiated", action="store_true", help="属实")
    finding.add_argument("--unsubstantiated", action="store_true", help="不属实")
    verify.add_argument("--officers", help="responsible officers' police numbers, comma-separated")
    verify.add_argument("--finding", help="what was found (属实)")
    verify.add_argument("--reason", help="why it is not substantiated (不属实)")
    _version(verify)

    rectify = command("rectify", "record measures / evidence, or submit for review", act_rectify)
    rectify.add_argument("--measure", help="a measure taken")
    rectify.add_argument("--evidence", action="append", default=[], metavar="FILE")
    rectify.add_argument("--submit", action="store_true", help="hand in for review")
    rectify.add_argument("--note", default="")
    _version(rectify)

    review = command("review", "accept the rectification (closes) or return it", act_review)
    verdict = review.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--accept", action="store_true")
    verdict.add_argument("--return", dest="send_back", action="store_true", help="退回")
    review.add_argument("--reason", default="", help="why it is returned")
    review.add_argument("--note", default="")
    _version(review)

    assign = command("assign", "hand the case to another unit", act_assign)
    assign.add_argument("--unit", required=True, metavar="CODE")
    assign.add_argument("--reason", required=True)
    _version(assign)

    note = command("note", "add a remark to the timeline", act_note)
    note.add_argument("--text", required=True)
    _version(note)

    opened = command("open", "record a complaint by hand (opens a case)", open_case, case=False)
    opened.add_argument("--unit", required=True, metavar="CODE", help="the unit complained about")
    opened.add_argument("--complaint", required=True)
    opened.add_argument("--phone")
    opened.add_argument("--officers", help="police numbers, comma-separated")
    opened.add_argument("--consent", action="store_true", help="the citizen wants the outcome")


def _version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expect-version",
        type=int,
        dest="expected",
        help="the version you read (refused if the case changed since)",
    )


def _fail(message: str) -> int:
    print(f"pingjing cases: {message}", file=sys.stderr)
    return 1


def _person(db: Any, name: str | None) -> Any:
    from storage import user_store

    if name is None:
        return Operator()
    user = db.run_sync(user_store.get_user, name)
    if user is None:
        raise LookupError(f"no user {name!r}")
    return user


def _shown(value: Any, zone: Any) -> Any:
    from gateway.http.cases import jsonable

    return jsonable(value, zone)


def list_cases(args: argparse.Namespace) -> int:
    from gateway.accounts import permissions as perm
    from gateway.callbacks.export import ExportQueryError, parse_bound
    from gateway.cases.store import CaseQuery
    from storage.case_rows import UnitTable
    from storage.case_store import list_cases as query_cases

    settings = settings_from(args)
    zone = settings.cases.zone
    try:
        start = parse_bound(args.start, zone, end=False, what="--from") if args.start else None
        end = parse_bound(args.end, zone, end=True, what="--to") if args.end else None
    except ExportQueryError as exc:
        return _fail(str(exc))
    db = open_database(settings)
    try:
        person = _person(db, args.user)
        tree = db.run_sync(UnitTable)
        states = list(args.state)
        if args.inbox:
            mine = perm.inbox_states(person)
            states = [s for s in states if s in mine] if states else mine
            states = states or ["-"]
        query = CaseQuery(
            scope=perm.scope_units(person, tree),
            unit=args.unit,
            states=states,
            overdue=True if args.overdue else None,
            start=start,
            end=end,
            limit=args.limit,
            now=datetime.now(UTC),
        )
        rows = db.run_sync(query_cases, query)
    except LookupError as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    for row in rows:
        if args.format == "jsonl":
            print(json.dumps(_shown(row, zone), ensure_ascii=False))
        else:
            due = row["due_at"].astimezone(zone).strftime("%Y-%m-%d") if row["due_at"] else "-"
            flag = "  OVERDUE" if row["overdue"] else ""
            print(
                f"{row['id']}\t{row['state']}\t{row['unit']} {row['unit_name']}\t"
                f"due {due}\treturns {row['returns']}{flag}"
            )
    if not rows and args.format == "table":
        print("(no cases)")
    return 0


def show_case(args: argparse.Namespace) -> int:
    from gateway.cases.store import CaseError
    from storage.case_store import case_detail

    settings = settings_from(args)
    db = open_database(settings)
    try:
        detail = db.run_sync(case_detail, _person(db, args.user), args.case_id, datetime.now(UTC))
    except (CaseError, LookupError) as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    shown = _shown(detail, settings.cases.zone)
    if args.format == "json":
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return 0
    print(f"case {shown['id']}  {shown['state']}  (version {shown['version']})")
    print(f"  unit {shown['unit']} (event's unit {shown['event_unit']}), origin {shown['origin']}")
    print(f"  opened {shown['opened_at']}, due {shown['due_at']}, overdue {shown['overdue']}")
    if shown["officers"]:
        names = ", ".join(f"{o['name']}({o['police_number']})" for o in shown["officers"])
        print(f"  officers: {names}")
    for key in ("complaint", "finding", "unsubstantiated_reason"):
        if shown[key]:
            print(f"  {key}: {shown[key]}")
    for measure in shown["measures"]:
        print(f"  measure: {measure}")
    for e in shown["evidence"]:
        print(f"  evidence {e['id']}: {e['filename']} ({e['content_type']}, {e['size_bytes']} B)")
    print("  timeline:")
    for t in shown["timeline"]:
        why = f" — {t['reason']}" if t["reason"] else ""
        print(f"    {t['at']}  {t['actor']}  {t['action']}: {t['from'] or '-'} → {t['to']}{why}")
    return 0


def _act(args: argparse.Namespace, events: list[tuple[str, dict[str, Any]]]) -> int:
    """Apply the named actions in order, each in its own transaction, as ``--as``."""
    from gateway.cases.actions import ActionError, parse_action
    from gateway.cases.store import CaseError
    from storage.case_store import act

    settings = settings_from(args)
    db = open_database(settings)
    version = args.expected
    try:
        person = _person(db, args.user)
        detail: dict[str, Any] = {}
        for name, fields in events:
            event = parse_action(
                name, fields, actor=person.name, at=datetime.now(UTC), version=version
            )
            detail = db.run_sync(act, person, args.case_id, event, settings.cases)
            version = detail["version"] if version is not None else None
    except (CaseError, ActionError, LookupError) as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    print(f"case {detail['id']}: {detail['state']} (version {detail['version']})")
    return 0


def act_verify(args: argparse.Namespace) -> int:
    if args.substantiated:
        return _act(args, [("substantiate", {"officers": args.officers, "finding": args.finding})])
    if args.unsubstantiated:
        return _act(args, [("unsubstantiate", {"reason": args.reason})])
    return _act(args, [("start_verify", {})])


def act_rectify(args: argparse.Namespace) -> int:
    events: list[tuple[str, dict[str, Any]]] = []
    if args.measure:
        events.append(("rectify", {"measure": args.measure}))
    if args.evidence:
        code = _attach(args)
        if code:
            return code
    if args.submit:
        events.append(("submit", {"note": args.note}))
    if not events and not args.evidence:
        return _fail("give --measure, --evidence and/or --submit")
    return _act(args, events) if events else 0


def _attach(args: argparse.Namespace) -> int:
    import mimetypes

    from gateway.cases.evidence import store_file
    from gateway.cases.store import CaseError
    from storage.case_store import add_evidence

    settings = settings_from(args)
    db = open_database(settings)
    try:
        person = _person(db, args.user)
        for name in args.evidence:
            data = Path(name).read_bytes()
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if ctype not in settings.cases.evidence_types:
                return _fail(f"{name}: type {ctype} is not accepted")
            if len(data) > settings.cases.evidence_max_bytes:
                return _fail(f"{name}: larger than {settings.cases.evidence_max_bytes} bytes")
            digest = store_file(Path(settings.data_dir) / "evidence", data)
            meta = {
                "sha256": digest,
                "filename": Path(name).name,
                "content_type": ctype,
                "size_bytes": len(data),
                "at": datetime.now(UTC),
            }
            detail = db.run_sync(
                add_evidence, person, args.case_id, args.expected, meta, settings.cases
            )
            args.expected = detail["version"] if args.expected is not None else None
            print(f"evidence {Path(name).name} attached to case {args.case_id}")
    except (CaseError, LookupError, OSError) as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    return 0


def act_review(args: argparse.Namespace) -> int:
    if args.accept:
        return _act(args, [("accept", {"note": args.note})])
    return _act(args, [("return", {"reason": args.reason})])


def act_assign(args: argparse.Namespace) -> int:
    return _act(args, [("assign", {"unit": args.unit, "reason": args.reason})])


def act_note(args: argparse.Namespace) -> int:
    return _act(args, [("note", {"text": args.text})])


def open_case(args: argparse.Namespace) -> int:
    from gateway.cases.opening import CaseOpening
    from gateway.cases.store import CaseError
    from storage.case_store import open_complaint

    settings = settings_from(args)
    db = open_database(settings)
    try:
        person = _person(db, args.user)
        opening = CaseOpening(
            event_unit_code=args.unit,
            origin="complaint",
            at=datetime.now(UTC),
            actor=person.name,
            phone=args.phone or None,
            officers=tuple(o.strip() for o in (args.officers or "").split(",") if o.strip()),
            complaint=args.complaint,
            consent=True if args.consent else None,
        )
        detail = db.run_sync(open_complaint, person, opening, settings.cases)
    except (CaseError, LookupError) as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    print(f"case {detail['id']} opened, handled by {detail['unit']}")
    return 0
