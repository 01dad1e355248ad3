"""``pingjing callbacks manual``: the callbacks to make by hand, and recording them."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from gateway.commands.common import add_config_option, open_database, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("callbacks", help="callbacks made by hand (100 % 回访)")
    sub = parser.add_subparsers(dest="callbacks_command", metavar="ACTION", required=True)
    manual = sub.add_parser("manual", help="the manual callback list")
    msub = manual.add_subparsers(dest="manual_command", metavar="ACTION", required=True)

    lst = msub.add_parser("list", help="callbacks to make by hand (one page)")
    add_config_option(lst)
    lst.add_argument("--as", dest="user", required=True, metavar="USER")
    lst.add_argument("--unit", metavar="CODE")
    lst.add_argument("--after", type=int, default=0, help="the last id of the previous page")
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--unreachable", action="store_true", help="include unreachable ones")
    lst.add_argument("--reveal", action="store_true", help="show whole numbers (audited)")
    lst.add_argument("--format", choices=["table", "jsonl"], default="table")
    lst.set_defaults(func=list_manual)

    rec = msub.add_parser("record", help="record a call made by hand")
    add_config_option(rec)
    rec.add_argument("callback_id", type=int, metavar="ID")
    rec.add_argument("--as", dest="user", required=True, metavar="USER")
    reach = rec.add_mutually_exclusive_group(required=True)
    reach.add_argument("--reached", action="store_true")
    reach.add_argument("--unreachable", action="store_true", help="nobody answered")
    rec.add_argument("--reason-key", help="the reason for dissatisfaction (1-5, 9)")
    rec.add_argument("--rating", choices=["satisfied", "basically_satisfied", "unsatisfied"])
    rec.add_argument("--consent", action="store_true", help="wants to hear the outcome")
    rec.add_argument("--notes")
    rec.set_defaults(func=record)

    sweep = msub.add_parser("sweep", help="mark tasks unreachable for too long")
    add_config_option(sweep)
    sweep.set_defaults(func=sweep_unreachable)


def _user(db, name):
    from storage import user_store

    user = db.run_sync(user_store.get_user, name)
    if user is None:
        raise LookupError(f"no user {name!r}")
    return user


def _fail(message: str) -> int:
    print(f"pingjing callbacks: {message}", file=sys.stderr)
    return 1


def list_manual(args: argparse.Namespace) -> int:
    from gateway.cases.store import CaseError
    from gateway.http.cases import jsonable
    from storage.manual_calls import manual_list

    settings = settings_from(args)
    db = open_database(settings)
    try:
        rows = db.run_sync(
            manual_list,
            _user(db, args.user),
            unit=args.unit,
            include_unreachable=args.unreachable,
            after=args.after,
            limit=args.limit,
            reveal_phone=args.reveal,
        )
    except (CaseError, LookupError) as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    for row in rows:
        if args.format == "jsonl":
            print(json.dumps(jsonable(row, settings.cases.zone), ensure_ascii=False))
        else:
            tried = len(row["manual_calls"])
            print(
                f"{row['callback_id']}\t{row['status']}\t{row['phone']}\t{row['unit']} "
                f"{row['unit_name']}\tcase {row['case_id'] or '-'}\tIVR {row['ivr_attempts']}, "
                f"by hand {tried}"
            )
    if rows and args.format == "table" and len(rows) == args.limit:
        print(f"(more: --after {rows[-1]['callback_id']})")
    return 0


def record(args: argparse.Namespace) -> int:
    from gateway.callbacks.manual import ManualCallRecord
    from gateway.cases.store import CaseError
    from storage.manual_calls import record_call

    settings = settings_from(args)
    call = ManualCallRecord(
        reached=args.reached,
        reason_key=args.reason_key,
        rating=args.rating,
        consent=True if args.consent else (False if args.reached else None),
        notes=args.notes,
    )
    db = open_database(settings)
    try:
        result = db.run_sync(
            record_call,
            _user(db, args.user),
            args.callback_id,
            call,
            datetime.now(UTC),
            settings.cases,
        )
    except (CaseError, LookupError) as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    case = f", case {result['case_id']}" if result["case_id"] else ""
    done = "reached by hand" if result["reached"] else result["status"]
    print(f"callback {result['callback_id']}: {done}{case}")
    return 0


def sweep_unreachable(args: argparse.Namespace) -> int:
    from storage.manual_calls import sweep_unreachable as sweep

    settings = settings_from(args)
    db = open_database(settings)
    try:
        marked = db.run_sync(sweep, datetime.now(UTC), settings.cases)
    finally:
        db.stop()
    print(f"{len(marked)} callbacks marked unreachable")
    return 0
