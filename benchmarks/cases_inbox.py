"""Benchmark (not a test): the case inbox over 100,000 cases on PostgreSQL.

    .venv/bin/python benchmarks/cases_inbox.py [--cases 100000] [--runs 30]

A province-sized registry (the sample city's 32 units plus 20 sub-bureaus of 25 stations
each, 552 units) and ``--cases`` cases spread over a year: 85 % closed or unsubstantiated,
the rest open, verifying, rectifying or under review, some overdue. Then each inbox query the
API and the console ask (``storage.case_store.list_cases``, one page of 50 plus one to know if
there is more), ``--runs`` times each, in its own transaction as the API runs it, after
ANALYZE. Creates a scratch database and drops it afterwards. Prints a Markdown table for
docs/benchmarks.md (median and p95 in milliseconds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from gateway.cases import states as cs
from gateway.cases.store import CaseQuery
from storage import migrate
from storage import models as m
from storage.case_models import Case
from storage.case_store import list_cases
from storage.db import Database
from storage.sql import insert_many
from storage.units import import_file

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
CONF = Path(__file__).resolve().parents[1] / "conf"


def make_database(server: str) -> tuple[str, str]:
    name = f"pingjing_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    return server + "/" + name, name


def drop_database(server: str, name: str) -> None:
    admin = sa.create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def province_units() -> str:
    lines = ["code,name,kind,parent_code"]
    for b in range(20):
        bureau = f"53990{b:02d}00000"
        lines.append(f"{bureau},分局{b},sub_bureau,530400000000")
        for s in range(25):
            lines.append(f"53990{b:02d}5{s:02d}00,派出所{b}-{s},station,{bureau}")
    return "\n".join(lines) + "\n"


def seed(session, count: int, rng: random.Random) -> dict[str, str]:
    for name in ("units.csv",):
        import_file(session, (CONF / name).read_text(encoding="utf-8"), name)
    import_file(session, province_units(), "province.csv")
    units = session.execute(sa.select(m.Unit.id, m.Unit.code, m.Unit.kind, m.Unit.parent_id)).all()
    stations = [u for u in units if u.kind in ("station", "team", "window")]
    parent = {u.id: u.parent_id for u in units}
    kind = {u.id: u.kind for u in units}
    weights = [
        (cs.CLOSED, 0.78),
        (cs.UNSUBSTANTIATED, 0.07),
        (cs.OPEN, 0.03),
        (cs.VERIFYING, 0.04),
        (cs.RECTIFYING, 0.05),
        (cs.UNDER_REVIEW, 0.03),
    ]
    states, probs = zip(*weights, strict=True)
    rows = []
    for i in range(count):
        station = rng.choice(stations)
        handling = station.id
        while (
            kind[handling] not in ("sub_bureau", "county_bureau", "department")
            and parent[handling]
            and parent[parent[handling]]
        ):
            handling = parent[handling]
        opened = NOW - timedelta(days=365 * (1 - i / count), minutes=rng.randint(0, 600))
        state = rng.choices(states, probs)[0]
        final = state in cs.FINAL
        due = None if final else opened + timedelta(days=rng.randint(3, 20))
        rows.append(
            (
                "sms_unsatisfied",
                handling,
                station.id,
                state,
                1,
                opened,
                due,
                opened + timedelta(days=5) if final else None,
                "[]",  # JSON, as COPY takes it
                0,
                opened,
            )
        )
    insert_many(
        session,
        Case,
        (
            "origin",
            "unit_id",
            "event_unit_id",
            "state",
            "version",
            "opened_at",
            "due_at",
            "closed_at",
            "measures",
            "returns",
            "updated_at",
        ),
        rows,
    )
    bureau = session.scalar(sa.select(m.Unit.code).where(m.Unit.code == "53990050000" + "0"))
    station = session.scalar(sa.select(m.Unit.code).where(m.Unit.code == "5399005" + "0300"))
    return {"bureau": bureau or "539900500000", "station": station or "539900503000"}


def queries(codes: dict[str, str], middle_id: int) -> dict[str, CaseQuery]:
    open_states = [s for s in cs.STATES if s not in cs.FINAL]
    return {
        "city inspectorate, newest first": CaseQuery(limit=51, now=NOW),
        "city, open states only": CaseQuery(states=open_states, limit=51, now=NOW),
        "city, overdue": CaseQuery(overdue=True, limit=51, now=NOW),
        "sub-bureau inbox (open states)": CaseQuery(
            scope=codes["bureau"], states=open_states, limit=51, now=NOW
        ),
        "sub-bureau, overdue": CaseQuery(scope=codes["bureau"], overdue=True, limit=51, now=NOW),
        "city, one month (from/to)": CaseQuery(
            start=NOW - timedelta(days=120), end=NOW - timedelta(days=90), limit=51, now=NOW
        ),
        "city, a page deep in the list (after=)": CaseQuery(after=middle_id, limit=51, now=NOW),
        "sub-bureau, under review": CaseQuery(
            scope=codes["bureau"], states=[cs.UNDER_REVIEW], limit=51, now=NOW
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    url, name = make_database(args.postgres)
    try:
        migrate.upgrade(url)
        db = Database(url, threads=1)
        started = time.perf_counter()
        codes = db.run_sync(seed, args.cases, random.Random(args.seed))
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
        loaded = time.perf_counter() - started
        middle = db.run_sync(lambda s: s.scalar(sa.select(sa.func.max(Case.id)))) // 2
        print(f"{args.cases:,} cases loaded in {loaded:.1f} s; {args.runs} runs per query\n")
        print("| inbox query | rows | median ms | p95 ms |")
        print("|---|---:|---:|---:|")
        for label, query in queries(codes, middle).items():
            times, rows = [], 0
            for _ in range(args.runs):
                t0 = time.perf_counter()
                rows = len(db.run_sync(list_cases, query))
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"| {label} | {rows} | {statistics.median(times):.1f} | {p95:.1f} |")
        db.stop()
    finally:
        drop_database(args.postgres, name)


if __name__ == "__main__":
    main()
