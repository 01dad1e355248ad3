"""How long the citizen waits in silence: process start to the AGI script's first command.

Spawns ``pingjing-agi`` the way Asterisk does (fresh process, ``agi_*`` headers on stdin) and
measures the wall time from ``Popen`` to the first command line on its stdout, then kills it.
The target (issue 5) is under 150 ms. Run::

    .venv/bin/python benchmarks/agi_startup.py [--runs 30] [--limit-ms 150]

It exits non-zero when the median exceeds the limit, so CI can keep it honest.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADERS = (
    b"agi_request: pingjing-agi\nagi_channel: PJSIP/carrier-00000001\nagi_language: en\n"
    b"agi_type: PJSIP\nagi_uniqueid: pj-1-bench\nagi_version: 22.10.1\n"
    b"agi_callerid: 13812345678\nagi_context: pingjing-callback\nagi_extension: s\n"
    b"agi_priority: 2\nagi_enhanced: 0.0\n\n"
)


def command() -> list[str]:
    script = Path(sys.executable).with_name("pingjing-agi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ivr.agi_callback"]


def one_run(env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(HEADERS)
    proc.stdin.flush()
    fd = proc.stdout.fileno()
    buf = b""
    try:
        while b"\n" not in buf:
            ready, _, _ = select.select([fd], [], [], 10.0)
            if not ready:
                raise RuntimeError("pingjing-agi sent nothing within 10 s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("pingjing-agi exited before its first command")
            buf += chunk
        elapsed = time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait()
    if not buf.startswith(b"GET VARIABLE"):
        raise RuntimeError(f"unexpected first command: {buf[:60]!r}")
    return elapsed * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--limit-ms", type=float, default=150.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGJING_")}
        env["PINGJING_SERVICE_DATA_DIR"] = tmp
        for _ in range(args.warmup):  # page cache and .pyc files, as on a running PBX
            one_run(env)
        times = sorted(one_run(env) for _ in range(args.runs))
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"pingjing-agi start-up to first AGI command over {args.runs} runs:")
    print(
        f"  min {times[0]:.1f} ms  median {median:.1f} ms  p95 {p95:.1f} ms  max {times[-1]:.1f} ms"
    )
    print(f"  limit {args.limit_ms:.0f} ms: {'OK' if median <= args.limit_ms else 'TOO SLOW'}")
    return 0 if median <= args.limit_ms else 1


if __name__ == "__main__":
    sys.exit(main())
