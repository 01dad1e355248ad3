"""A short fault run in ``make test``: the real daemons, two of them, and a few faults.

The long run (100,000 events, 20 kills, real RabbitMQ and PostgreSQL restarts) is
``benchmarks/fault_run.py``; its results are in docs/faults.md. This one publishes a few
hundred events, kills each daemon once, cuts the SMSC, AMI, PostgreSQL and RabbitMQ links at
proxies it owns (never restarting the shared services), and requires every invariant of the
checker to hold.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_short_fault_run_keeps_every_invariant(pg_server_url, amqp_params, tmp_path) -> None:
    out = tmp_path / "run"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "fault_run.py"),
            "--events",
            "150",
            "--seed",
            "17",
            "--kills",
            "2",
            "--each",
            "1",
            "--fault-every",
            "1.5",
            "--silence",
            "4",
            "--reply-rate",
            "0.2",
            "--call-speed",
            "60",
            "--speed",
            "1200",
            "--retry-minutes",
            "0.02, 0.04",
            "--max-concurrent",
            "3",
            "--quiet",
            "4",
            "--max-minutes",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=230,
    )
    table = (out / "check.md").read_text(encoding="utf-8") if (out / "check.md").exists() else ""
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "| every event has exactly one decision | 150 | 0 |" in table
    assert "kill -9" in run.stderr and "SMSC drops every connection" in run.stderr
    # two service trees on one PostgreSQL: every SMS was claimed by one of them (which one
    # took how many depends on which was killed when)
    [shared] = [line for line in run.stdout.splitlines() if line.startswith("SMS claimed by")]
    claimed = dict(item.rsplit(" ", 1) for item in shared.split(": ", 1)[1].split(", "))
    assert set(claimed) <= {"gw-a", "gw-b"} and sum(map(int, claimed.values())) >= 150
    assert "gw-a.log" in {p.name for p in out.iterdir()} and (out / "gw-b.log").exists()
