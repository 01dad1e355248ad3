"""Benchmark (not a test): the console's pages, server time, over many surveys on PostgreSQL.

    .venv/bin/python benchmarks/console_pages.py --database pingjing_bench_reports_10m [--runs 5]
    .venv/bin/python benchmarks/console_pages.py --surveys 1000000   # a scratch database

With ``--database`` it reads an existing database (for instance the one ``benchmarks/reports.py
--keep`` leaves: 10 million surveys over 2017-05 .. 2018-07); without, it creates a scratch
database, loads the sample registry and generates ``--surveys`` with the reports benchmark's
generator, and drops it afterwards. The console is served by the real resource tree
(``gateway.app.make_console``) on 127.0.0.1, its clock pinned to 2018-06-15 10:00 (Beijing) so
"today" and "this month" fall inside the data; each page is fetched ``--runs`` times over HTTP
by a signed-in inspector (every unit) and a station's handler, and the median is printed. The
time is measured at the client, so it is an upper bound of the server time.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from twisted.internet import defer, task

REPO = Path(__file__).resolve().parents[1]
PAGES = (
    ("dashboard", "/console/"),
    ("surveys, first page", "/console/surveys"),
    (
        "surveys, one day, unsatisfied",
        "/console/surveys?from=2018-06-15&to=2018-06-15&rating=unsatisfied",
    ),
    ("surveys, next page", "/console/surveys?after=5000000"),
    ("callback results", "/console/callbacks?from=2018-06-01&to=2018-06-30"),
    ("audit log", "/console/audit"),
    ("cases inbox, all", "/console/cases?box=all"),
    ("cases inbox, to verify", "/console/cases?box=verify"),
    ("cases inbox, overdue", "/console/cases?box=overdue"),
)


CASES = """
INSERT INTO cases (origin, unit_id, event_unit_id, state, version, opened_at, due_at, phone,
    complaint, measures, returns, updated_at)
SELECT 'complaint', u.ids[1 + g % array_length(u.ids, 1)], u.ids[1 + g % array_length(u.ids, 1)],
    (ARRAY['open', 'verifying', 'substantiated', 'unsubstantiated', 'rectifying',
           'under_review', 'closed'])[1 + g % 7],
    1, timestamptz '2017-05-01 00:00+08' + (g::float8 / :n) * interval '436 days',
    timestamptz '2017-05-06 00:00+08' + (g::float8 / :n) * interval '436 days',
    '139' || lpad(g::text, 8, '0'), '投诉内容 ' || g, '[]', 0, now()
FROM generate_series(1, :n) AS g,
     (SELECT array_agg(id ORDER BY id) AS ids FROM units WHERE kind IN ('station', 'department'))
     AS u
"""


def _reports_benchmark() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_reports", REPO / "benchmarks" / "reports.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def measure(
    reactor: Any, url: str, runs: int, rollup: bool = True
) -> list[tuple[str, str, list[float]]]:
    from twisted.web.client import HTTPConnectionPool
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    from gateway.app import make_console
    from gateway.config import load_settings
    from gateway.console.users import ConsoleUser, MemoryUserDirectory
    from storage.db import Database

    sys.path.insert(0, str(REPO))
    from tests.console.conftest import Client

    db = Database(url, reactor=reactor)
    db.start()
    station = db.run_sync(
        lambda s: s.scalar(
            sa.text("SELECT code FROM units WHERE kind = 'station' ORDER BY code LIMIT 1")
        )
    )
    settings = load_settings(REPO / "conf" / "pingjing.toml", env={})
    clock = task.Clock()
    clock.advance(datetime(2018, 6, 15, 10, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    users = MemoryUserDirectory(
        [
            (ConsoleUser("insp", "inspector", "", "督察"), "pw"),
            (ConsoleUser("station", "handler", station, "派出所"), "pw"),
        ]
    )
    app = SimpleNamespace(db=db, console_users=users, reactor=clock)
    root = Resource()
    from gateway.demo.serve import _cases

    root.putChild(b"console", make_console(app, settings, None, _cases(db, settings)))
    if rollup:
        # as the daemon does at start (gateway.app: the "console-trend" timer): the earlier
        # months of the dashboard trend for every unit, before the first view
        from gateway.console.trend import refresh_trend

        began = time.perf_counter()
        await refresh_trend(app.console)
        took = (time.perf_counter() - began) * 1000
        print(f"  trend rollup (every unit, 11 months), off the request path: {took:.0f} ms")
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    base = f"http://127.0.0.1:{port.getHost().port}"
    out = []
    try:
        for who in ("insp", "station"):
            client = Client(base, HTTPConnectionPool(reactor, persistent=False))
            await client.sign_in(who, "pw")
            for name, path in PAGES:
                if who != "insp" and name == "audit log":
                    continue
                times = []
                for _ in range(runs):
                    began = time.perf_counter()
                    reply = await client.get(path)
                    times.append(time.perf_counter() - began)
                    if reply.code != 200:
                        print(f"  {who} {path}: {reply.code}", flush=True)
                out.append((who, name, times))
                print(
                    f"  {who:8} {name:32} median {statistics.median(times) * 1000:7.1f} ms  (runs: "
                    + ", ".join(f"{t * 1000:.0f}" for t in times)
                    + " ms)",
                    flush=True,
                )
    finally:
        await port.stopListening()
        db.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="an existing database to read (not changed)")
    parser.add_argument("--surveys", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=100_000, help="cases to generate")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--no-rollup", action="store_true", help="no trend rollup first (the live first view)"
    )
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    admin = sa.create_engine(f"{args.postgres}/postgres", isolation_level="AUTOCOMMIT")
    name = args.database or f"pingjing_bench_console_{uuid.uuid4().hex[:8]}"
    url = f"{args.postgres}/{name}"
    try:
        if not args.database:
            from storage import migrate
            from storage.db import Database
            from storage.units import import_file

            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            migrate.upgrade(url)
            db = Database(url)
            for f in ("units.csv", "officers.csv"):
                db.run_sync(import_file, (REPO / "conf" / f).read_text("utf-8"), f)
            _reports_benchmark().generate(db, args.surveys, 500_000)
            db.run_sync(lambda s: s.execute(sa.text(CASES), {"n": args.cases}))
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE cases"))
            db.stop()
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            count = conn.scalar(sa.text("SELECT count(*) FROM surveys"))
            has_cases = sa.inspect(conn).has_table("cases")
            cases = conn.scalar(sa.text("SELECT count(*) FROM cases")) if has_cases else 0
        engine.dispose()
        print(f"{name}: {count:,} surveys, {cases:,} cases" + ("" if has_cases else " (no table)"))
        if not has_cases:
            global PAGES
            PAGES = tuple(p for p in PAGES if not p[0].startswith("cases"))
        task.react(lambda r: defer.ensureDeferred(measure(r, url, args.runs, not args.no_rollup)))
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    finally:
        if not args.database:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
