"""``pingjing ladder``: accountability proposals and an inspector's decisions on them."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from gateway.commands.common import add_config_option, open_database, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ladder", help="accountability ladder (问责) proposals")
    sub = parser.add_subparsers(dest="ladder_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="the period's proposals")
    add_config_option(lst)
    lst.add_argument("--as", dest="user", metavar="USER", help="read as this user (default: all)")
    lst.add_argument("--unit", metavar="CODE")
    lst.add_argument("--officer", metavar="POLICE_NUMBER")
    lst.add_argument("--undecided", action="store_true")
    lst.add_argument("--at", metavar="DATE", help="a date in the period wanted")
    lst.add_argument("--format", choices=["table", "jsonl"], default="table")
    lst.set_defaults(func=list_proposals)
    dec = sub.add_parser("decide", help="record a decision on a proposal")
    add_config_option(dec)
    dec.add_argument("--as", dest="user", required=True, metavar="USER")
    dec.add_argument("--case", type=int, required=True, metavar="ID")
    dec.add_argument("--officer", required=True, metavar="POLICE_NUMBER")
    dec.add_argument("--subject", choices=["officer", "principal", "deputy"], default="officer")
    dec.add_argument(
        "--decision", choices=["as_proposed", "changed", "dismissed"], default="as_proposed"
    )
    dec.add_argument(
        "--measure", choices=["notice", "written_review", "discipline", "accountability"]
    )
    dec.add_argument("--reason")
    dec.set_defaults(func=decide)


class _Everyone:
    name = "operator"
    unit = ""
    role = "inspector"  # reads every proposal; decisions always name a real user


def _person(db, name):
    from storage import user_store

    if name is None:
        return _Everyone()
    user = db.run_sync(user_store.get_user, name)
    if user is None:
        raise LookupError(f"no user {name!r}")
    return user


def list_proposals(args: argparse.Namespace) -> int:
    from gateway.callbacks.export import ExportQueryError, parse_bound
    from gateway.cases.store import CaseError
    from gateway.http.cases import jsonable
    from storage.ladder_store import proposals

    settings = settings_from(args)
    zone = settings.cases.zone
    try:
        at = parse_bound(args.at, zone, end=False, what="--at") if args.at else datetime.now(UTC)
    except ExportQueryError as exc:
        print(f"pingjing ladder: {exc}", file=sys.stderr)
        return 1
    db = open_database(settings)
    try:
        listing = db.run_sync(
            proposals,
            _person(db, args.user),
            settings.cases,
            at,
            unit=args.unit,
            officer=args.officer,
            undecided=args.undecided,
        )
    except (CaseError, LookupError) as exc:
        print(f"pingjing ladder: {exc}", file=sys.stderr)
        return 1
    finally:
        db.stop()
    for p in listing["proposals"]:
        if args.format == "jsonl":
            print(
                json.dumps(jsonable({"period": listing["period"], **p}, zone), ensure_ascii=False)
            )
            continue
        who = f"{p['name']}({p['police_number']})"
        about = f" for {p['about']}" if p["about"] else ""
        decided = p["decision"]["decision"] if p["decision"] else "undecided"
        cases = ",".join(str(c) for c in p["case_ids"])
        print(
            f"{listing['period']}\tcase {p['case_id']}\t{p['subject']}\t{who}{about}\t"
            f"step {p['step']}: {p['proposed_text']}\tcases {cases}\t{decided}"
        )
    if not listing["proposals"] and args.format == "table":
        print(f"(no proposals in {listing['period']})")
    return 0


def decide(args: argparse.Namespace) -> int:
    from gateway.cases.store import CaseError
    from storage.ladder_store import decide as record

    settings = settings_from(args)
    db = open_database(settings)
    try:
        user = _person(db, args.user)
        result = db.run_sync(
            record,
            user,
            settings.cases,
            case_id=args.case,
            police_number=args.officer,
            subject=args.subject,
            decision=args.decision,
            measure=args.measure,
            reason=args.reason,
            now=datetime.now(UTC),
        )
    except (CaseError, LookupError) as exc:
        print(f"pingjing ladder: {exc}", file=sys.stderr)
        return 1
    finally:
        db.stop()
    print(
        f"{result['subject']} {result['police_number']} (case {result['case_id']}): "
        f"{result['decision']['decision']}, measure {result['decision']['measure'] or '-'}"
    )
    return 0
