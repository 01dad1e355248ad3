"""``pingjing report daily|weekly|monthly|quarterly|annual|period``, and the 约谈 records.

Without ``--out`` the report is printed (text or JSON); with ``--out DIR`` its files are
written there (CSV one file per table; XLSX with its charts) and their paths printed. The
period is the last complete one (yesterday, last week...) unless ``--date`` names a day inside
the wanted one; ``period`` takes ``--from``/``--to`` (local dates, both included).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta

from gateway.commands.common import add_config_option, open_database, settings_from

KINDS = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "quarterly": "quarter",
    "annual": "year",
    "period": "period",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="figures, rankings and reports")
    sub = parser.add_subparsers(dest="report_command", metavar="KIND", required=True)
    for name in KINDS:
        p = sub.add_parser(name, help=f"the {name} report")
        add_config_option(p)
        p.add_argument("--date", metavar="YYYY-MM-DD", help="a local day inside the period")
        p.add_argument("--from", dest="start", metavar="DATE", help="first local day (period)")
        p.add_argument("--to", dest="end", metavar="DATE", help="last local day, included")
        p.add_argument("--unit", metavar="CODE", help="this unit and those below it")
        p.add_argument("--format", choices=("text", "json", "csv", "xlsx"), default="text")
        p.add_argument("--out", metavar="DIR", help="write the files here")
        p.add_argument("--archive", action="store_true", help="record the files in the archive")
        p.set_defaults(func=run_report, kind=KINDS[name])
    lst = sub.add_parser("interviews", help="list the 约谈 records (proposed and decided)")
    add_config_option(lst)
    lst.add_argument("--month", metavar="YYYY-MM")
    lst.set_defaults(func=list_interviews)
    dec = sub.add_parser("decide", help="confirm or dismiss a proposed 约谈")
    add_config_option(dec)
    dec.add_argument("interview_id", type=int)
    dec.add_argument("decision", choices=("confirmed", "dismissed"))
    dec.add_argument("--actor", required=True, help="who decides (kept with the record)")
    dec.set_defaults(func=decide_interview)


def _period(args: argparse.Namespace, zone):
    from gateway.reports.periods import Period, last_complete, period_of

    try:
        if args.kind == "period":
            if not (args.start and args.end):
                raise ValueError("period needs --from and --to")
            first, last = date.fromisoformat(args.start), date.fromisoformat(args.end)
            return Period("period", first, last + timedelta(days=1))
        if args.start or args.end:
            raise ValueError("--from/--to are for `report period`; use --date")
        if args.date:
            return period_of(args.kind, date.fromisoformat(args.date))
        return last_complete(args.kind, datetime.now(UTC), zone)
    except ValueError as exc:
        raise SystemExit(f"report: {exc}") from None


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.reports.compute import UnknownUnitError
    from gateway.reports.produce import build, produce_and_archive, write_files
    from gateway.reports.render_text import as_json, as_text
    from gateway.reports.settings import ReportSettings
    from storage.report_store import SqlReportStore

    if args.unit and args.kind not in ("week", "period"):
        print(
            "report: --unit is for `report weekly` and `report period`; the daily, monthly, "
            "quarterly and annual reports are the city's (set reports.ranking_group to rank "
            "below another unit)",
            file=sys.stderr,
        )
        return 2
    settings = settings_from(args)
    rs: ReportSettings = getattr(settings, "reports", None) or ReportSettings()
    period = _period(args, rs.zone)
    if args.format in ("csv", "xlsx") and not args.out:
        print(f"report: --format {args.format} writes files: give --out DIR", file=sys.stderr)
        return 2
    store = SqlReportStore()
    now = datetime.now(UTC)
    db = open_database(settings)
    try:
        with db.sessions() as session:
            try:
                if args.archive:
                    directory = Path(args.out or rs.archive_dir or settings.data_dir / "reports")
                    formats = ("text", "json", "xlsx") if args.format == "text" else (args.format,)
                    produced = produce_and_archive(
                        args.kind, store, session, period, rs, now, directory, formats, args.unit
                    )
                    session.commit()
                    for f in produced.files:
                        print(f.path)
                    return 0
                report = build(args.kind, store, session, period, rs, now, args.unit)
                session.commit()  # a monthly report records its 约谈 proposals
            except UnknownUnitError as exc:
                print(f"report: {exc}", file=sys.stderr)
                return 2
    finally:
        db.stop()
    if args.out:
        for path in write_files(report, Path(args.out), (args.format,)):
            print(path)
    elif args.format == "json":
        sys.stdout.write(as_json(report))
    else:
        sys.stdout.write(as_text(report))
    return 0


def list_interviews(args: argparse.Namespace) -> int:
    from storage.report_store import SqlReportStore

    db = open_database(settings_from(args))
    try:
        records = db.run_sync(SqlReportStore().interviews, args.month)
    finally:
        db.stop()
    for r in records:
        who = "、".join(r.interviewees)
        decided = f" by {r.decided_by}" if r.decided_by else ""
        print(
            f"{r.id}\t{r.month}\t{r.unit_code}\t{r.kind}\t{who}\t-{r.deduction:g}\t{r.status}{decided}"
        )
    return 0


def decide_interview(args: argparse.Namespace) -> int:
    from storage.report_store import SqlReportStore

    db = open_database(settings_from(args))
    try:
        record = db.run_sync(
            SqlReportStore().decide_interview,
            args.interview_id,
            args.decision,
            args.actor,
            datetime.now(UTC),
        )
    finally:
        db.stop()
    if record is None:
        print(f"report: no 约谈 record {args.interview_id}", file=sys.stderr)
        return 1
    print(f"{record.id}\t{record.unit_code}\t{record.kind}\t{record.status}")
    return 0 if record.status == args.decision else 1
