"""The invariant checker of the fault run: the database against what the peers saw.

    .venv/bin/python benchmarks/fault_check.py --db URL --run DIR [--max-concurrent 4]

Reads the gateway's database and the simulators' journals in ``DIR`` (``smsc.jsonl``: every
SMS the SMSC accepted, with its number; ``pbx.jsonl``: every call with its real start and end;
``run.json``: what was published). Prints one table row per invariant of issue 17 and exits 1
when any is violated, naming the ids involved (at most 20 per row).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

SURVEY_MARK = "请评价"  # every survey template asks for a rating; thanks and clarifications do not


@dataclass
class Row:
    invariant: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    pending: int = 0  # not a violation: work a stopped run had not done yet

    @property
    def ok(self) -> bool:
        return not self.violations


def journal(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by the simulator's stop
    return out


def national(number: str) -> str:
    return number[2:] if number.startswith("86") and len(number) == 13 else number


def check(url: str, run: Path, max_concurrent: int) -> list[Row]:
    engine = sa.create_engine(url)
    rows: list[Row] = []
    summary = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    with engine.connect() as conn:
        q = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731

        # 1. every event has exactly one decision
        r = Row("every event has exactly one decision")
        events = q(
            "SELECT e.event_id, count(s.id) FROM service_events e"
            " LEFT JOIN surveys s ON s.event_id = e.id GROUP BY e.event_id"
        )
        r.checked = len(events)
        r.violations = [f"event {eid}: {n} decisions" for eid, n in events if n != 1]
        expected = summary.get("events")
        if expected is not None and len(events) != expected:
            r.violations.append(f"{expected} distinct events published, {len(events)} stored")
        rows.append(r)

        # 2. survey SMS at the SMSC: at most once per recorded attempt, at least once unless
        #    the records say unknown (or failed) with a reason
        smsc = [x for x in journal(run / "smsc.jsonl") if x.get("event") == "sms"]
        seen: Counter[str] = Counter(
            national(x["to"]) for x in smsc if SURVEY_MARK in (x.get("text") or "")
        )
        # an attempt is recorded by its parts, or (its outcome lost with a crash) by the wire
        # mark committed before its first submit_sm was written
        sms = q(
            "SELECT o.id, o.destination, o.status, o.error,"
            " greatest((SELECT count(DISTINCT p.attempt) FROM sms_parts p"
            "  WHERE p.outbound_id = o.id"
            "  AND p.status IN ('submitted', 'unacked', 'unknown', 'retry')),"
            "  CASE WHEN o.wire_at IS NULL THEN 0 ELSE 1 END) AS attempts,"
            " o.wire_at IS NOT NULL AS wired"
            " FROM outbound_messages o WHERE o.kind = 'survey'"
        )
        r = Row("each survey SMS reached the SMSC at most once per recorded attempt")
        r2 = Row(
            "each survey SMS reached the SMSC at least once, unless unknown/failed with reason"
        )
        for oid, dest, status, error, attempts, wired in sms:
            n = seen.get(national(dest), 0)
            r.checked += 1
            r2.checked += 1
            if n > max(attempts, 1 if status in ("submitted", "delivered", "undeliverable") else 0):
                r.violations.append(f"outbound {oid}: {n} at the SMSC, {attempts} attempts")
            if n == 0 and (status == "queued" or (status == "submitting" and not wired)):
                # not sent yet: the run stopped before the backlog drained (a claim never
                # written is queued again when its process restarts)
                r2.pending += 1
            elif n == 0 and not (status in ("unknown", "failed") and error):
                r2.violations.append(f"outbound {oid}: {status}, never at the SMSC")
        rows += [r, r2]

        # 3. no citizen received two survey SMS for one contact (each phone has one event here)
        r = Row("no citizen received two survey SMS for one contact")
        r.checked = len(seen)
        r.violations = [f"phone …{p[-4:]}: {n} survey SMS" for p, n in seen.items() if n > 1]
        rows.append(r)

        # 4. every reply stored once and read once
        replied = Counter(
            national(x["to"]) for x in smsc if x.get("reply") and x.get("delivered") is not None
        )
        # held parts wait for their siblings; an "unsure" reply waits (a grace) to be told
        # from another process's copy: neither is a stored reply yet
        inbound = q(
            "SELECT source_addr, count(*), sum(CASE WHEN match_status = 'new' THEN 1 ELSE 0 END)"
            " FROM inbound_messages WHERE match_status NOT IN ('held', 'unsure')"
            " GROUP BY source_addr"
        )
        stored = {national(src): (n, new) for src, n, new in inbound}
        r = Row("every reply is stored once and read once")
        r.checked = len(stored)
        r.pending = q("SELECT count(*) FROM inbound_messages WHERE match_status = 'unsure'")[0][0]
        for phone, (n, new) in stored.items():
            if n > max(1, replied.get(phone, 0)):
                r.violations.append(f"phone …{phone[-4:]}: {n} stored replies")
            if new:
                r.violations.append(f"phone …{phone[-4:]}: {new} replies never read")
        missing = [p for p in replied if p not in stored]
        if missing:
            r.violations.append(f"{len(missing)} replies the SMSC sent are not stored")
        rows.append(r)

        # 5. every unsatisfied reply has exactly one case (callback task)
        r = Row("every unsatisfied reply has exactly one case and one callback task")
        unsatisfied = q(
            "SELECT s.id, count(c.id) FROM surveys s LEFT JOIN callback_tasks c"
            " ON c.survey_id = s.id WHERE s.rating = 'unsatisfied' GROUP BY s.id"
        )
        r.checked = len(unsatisfied)
        r.violations = [f"survey {sid}: {n} callback tasks" for sid, n in unsatisfied if n != 1]
        rows.append(r)

        # 6. and 7. calls: per citizen never overlapping; in total never above the trunk
        calls = [x for x in journal(run / "pbx.jsonl") if x.get("event") == "call"]
        spans = [
            (x["started_at"], x["ended_at"], x["number"], x["channel_id"])
            for x in calls
            if x.get("started_at") is not None and x.get("ended_at") is not None
        ]
        r = Row("no two calls to one citizen overlap")
        by_number: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
        for start, end, number, channel in spans:
            by_number[number].append((start, end, channel))
        r.checked = len(spans)
        for number, items in by_number.items():
            items.sort()
            for (_s1, e1, c1), (s2, _, c2) in itertools.pairwise(items):
                if s2 < e1:
                    r.violations.append(f"number …{number[-4:]}: {c1} and {c2} overlap")
        rows.append(r)
        r = Row(f"simultaneous calls never exceeded the trunk ({max_concurrent}), all processes")
        points = sorted([(s, 1) for s, *_ in spans] + [(e, -1) for _, e, *_ in spans])
        live = peak = 0
        for at, step in points:
            live += step
            if live > peak:
                peak = live
            if live > max_concurrent:
                r.violations.append(f"{live} calls at t={at:.1f}")
        r.checked = len(spans)
        r.invariant += f"; peak {peak}"
        rows.append(r)

        # 8. every recording the PBX wrote is in the database
        r = Row("every recording the PBX wrote is in the database")
        written = [path for x in calls for path in x.get("recordings") or []]
        known = {row[0] for row in q("SELECT path FROM recordings")}
        known_names = {Path(p).name for p in known}
        r.checked = len(written)
        r.violations = [
            f"recording {Path(p).name} not stored"
            for p in written
            if p not in known and Path(p).name not in known_names
        ]
        rows.append(r)
    engine.dispose()
    return rows


def shares(url: str) -> dict[str, int]:
    """SMS claimed by each process (not an invariant: shows the work was shared)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT coalesce(claimed_by, '-'), count(*) FROM outbound_messages"
                " GROUP BY claimed_by ORDER BY 1"
            )
        ).all()
    engine.dispose()
    return {name: int(n) for name, n in rows}


def print_table(rows: list[Row], out=sys.stdout) -> None:
    print("| invariant | checked | violations | not yet done | ids |", file=out)
    print("|---|---:|---:|---:|---|", file=out)
    for r in rows:
        ids = "; ".join(r.violations[:20]) + (" …" if len(r.violations) > 20 else "")
        print(
            f"| {r.invariant} | {r.checked} | {len(r.violations)} | {r.pending} | {ids} |",
            file=out,
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--max-concurrent", type=int, default=4)
    args = p.parse_args()
    rows = check(args.db, args.run, args.max_concurrent)
    print_table(rows)
    print(
        "\nSMS claimed by each process: "
        + ", ".join(f"{k} {v}" for k, v in shares(args.db).items())
    )
    with (args.run / "check.md").open("w", encoding="utf-8") as f:
        print_table(rows, f)
    bad = [r for r in rows if not r.ok]
    print(f"\n{'FAIL' if bad else 'OK'}: {len(bad)} of {len(rows)} invariants violated")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
