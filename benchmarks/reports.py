"""Benchmark (not a test): the monthly ranking and the daily report over many surveys.

    .venv/bin/python benchmarks/reports.py [--surveys 10000000] [--runs 5] [--keep NAME]

Creates a scratch PostgreSQL database (dropped afterwards unless ``--keep``), migrates it,
loads the sample registry (``conf/units.csv``: 32 units) and generates the history in SQL with
``generate_series``: service events spread evenly over 2017-05-01 .. 2018-07-10 (the seed's
period), one survey each (76 % not sent to keep the seed's proportions, else sent, delivered,
a quarter replying, 3.2 % of replies unsatisfied with a comment and a callback task). Then
``VACUUM ANALYZE`` and, ``--runs`` times each: the monthly ranking (``compute.ranking`` on the
SQL store: every figure of the ranking group for June 2018) and the daily report
(``builders.daily`` for 2018-06-15: the day, the month so far and its ranking). Prints the
timings (median) and the peak memory of the process, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from gateway.reports import builders, compute
from gateway.reports.periods import period_of
from gateway.reports.settings import ReportSettings
from storage import migrate
from storage.db import Database
from storage.report_store import SqlReportStore
from storage.units import import_file

REPO = Path(__file__).resolve().parents[1]

GENERATE = """
INSERT INTO service_events (id, event_id, category, business, unit_id, citizen_phone,
    citizen_phone_raw, occurred_at, tags, source, received_at)
SELECT g, 'B' || g, 'window', 'biz' || (g % 40), u.ids[1 + g % array_length(u.ids, 1)],
    '139' || lpad((g % 100000000)::text, 8, '0'), NULL,
    timestamptz '2017-04-30 16:00+00' + (g::float8 / :n) * interval '436 days',
    '[]', 'file', now()
FROM generate_series(:lo, :hi) AS g,
     (SELECT array_agg(id ORDER BY id) AS ids FROM units WHERE kind IN ('station', 'department'))
     AS u;
INSERT INTO surveys (id, event_id, unit_id, category, phone, decision, status, occurred_at,
    sent_at, delivered_at, replied_at, rating, comment, clarification_sent, created_at,
    updated_at)
SELECT e.id, e.id, e.unit_id, e.category, e.citizen_phone,
    CASE WHEN e.id % 100 < 24 THEN 'selected' ELSE 'sampled_out' END,
    CASE WHEN e.id % 100 >= 24 THEN 'not_selected'
         WHEN e.id % 100 < 6 THEN 'replied' ELSE 'delivered' END,
    e.occurred_at,
    CASE WHEN e.id % 100 < 24 THEN e.occurred_at + interval '1 hour' END,
    CASE WHEN e.id % 100 < 24 THEN e.occurred_at + interval '61 minutes' END,
    CASE WHEN e.id % 100 < 6 THEN e.occurred_at + interval '80 minutes' END,
    CASE WHEN e.id % 100 >= 6 THEN NULL
         WHEN e.id % 1000 < 2 THEN 'unsatisfied'
         WHEN e.id % 100 < 5 THEN 'satisfied' ELSE 'basically_satisfied' END,
    CASE WHEN e.id % 1000 < 2 THEN '3 态度很差，等了两个小时' END,
    false, e.received_at, e.received_at
FROM service_events e WHERE e.id BETWEEN :lo AND :hi;
INSERT INTO callback_tasks (survey_id, unit_id, phone, trigger, status, attempts, overdue,
    reason_key, created_at, updated_at)
SELECT s.id, s.unit_id, s.phone, 'unsatisfied', 'completed', 1, false,
    CASE WHEN s.id % 2 = 0 THEN '1' END, s.replied_at, s.replied_at
FROM surveys s WHERE s.id BETWEEN :lo AND :hi AND s.rating = 'unsatisfied';
"""


def generate(db: Database, n: int, chunk: int) -> float:
    began = time.perf_counter()
    for lo in range(1, n + 1, chunk):
        hi = min(n, lo + chunk - 1)

        def insert(session, lo=lo, hi=hi):
            for statement in GENERATE.split(";"):
                if statement.strip():
                    session.execute(sa.text(statement), {"lo": lo, "hi": hi, "n": n})

        db.run_sync(insert)
        print(f"  generated {hi:,} / {n:,} ({time.perf_counter() - began:.0f} s)", flush=True)
    for table in ("service_events", "surveys", "callback_tasks"):
        db.run_sync(
            lambda s, t=table: s.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {t}))"
                )
            )
        )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - began


def timed(db: Database, fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        db.run_sync(fn)
        out.append(time.perf_counter() - began)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--surveys", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", metavar="NAME", help="reuse/keep this database")
    args = parser.parse_args()

    name = args.keep or f"pingjing_bench_reports_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{args.postgres}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    url = f"{args.postgres}/{name}"
    db = Database(url)
    try:
        have = 0
        if exists:
            have = db.run_sync(lambda s: s.scalar(sa.text("SELECT count(*) FROM surveys")))
        if have != args.surveys:
            if have:
                raise SystemExit(f"{name} holds {have:,} surveys, not {args.surveys:,}")
            migrate.upgrade(url)
            for f in ("units.csv", "officers.csv"):
                db.run_sync(import_file, (REPO / "conf" / f).read_text("utf-8"), f)
            seconds = generate(db, args.surveys, args.chunk)
            print(f"generated {args.surveys:,} surveys in {seconds:.0f} s")
        settings = ReportSettings()
        store = SqlReportStore()
        month = period_of("month", date(2018, 6, 1))
        day = period_of("day", date(2018, 6, 15))
        size = db.run_sync(
            lambda s: s.scalar(sa.text("SELECT pg_size_pretty(pg_total_relation_size('surveys'))"))
        )
        rows = db.run_sync(lambda s: compute.ranking(store, s, month, settings))
        print(
            f"surveys table with indexes: {size}; ranking rows: {len(rows)}; month events: "
            f"{sum(r.figures.events for r in rows):,}"
        )
        ranking = timed(db, lambda s: compute.ranking(store, s, month, settings), args.runs)
        daily = timed(db, lambda s: builders.daily(store, s, day, settings), args.runs)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print()
        print("| what | surveys | runs (s) | median |")
        print("|---|---|---|---|")
        for what, times in (
            ("monthly ranking (June 2018)", ranking),
            ("daily report (2018-06-15)", daily),
        ):
            shown = ", ".join(f"{t:.3f}" for t in times)
            print(f"| {what} | {args.surveys:,} | {shown} | **{statistics.median(times):.3f} s** |")
        print(f"\npeak RSS of the process: {peak:.0f} MB")
    finally:
        db.stop()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
