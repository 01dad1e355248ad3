"""How long the citizen waits in silence: process start to the AGI script's first command.

Spawns ``pingjing-agi`` the way Asterisk does (fresh process, ``agi_*`` headers on stdin) and
measures the wall time from ``Popen`` to the first command line on its stdout (the target of
issue 5: under 150 ms), then answers the commands that follow as a live channel would until
the first ``STREAM FILE`` (the greeting: the end of the silence the citizen hears), and kills
the process. Run::

    .venv/bin/python benchmarks/agi_startup.py [--runs 30] [--limit-ms 150]

It exits non-zero when the median exceeds the limit, so CI can keep it honest.

``--inbound`` measures the evaluation line instead (``pingjing-agi "" inbound``, issue 18):
the first prompt is the welcome, played while a thread opens the database and looks up the
caller's surveys; "first menu" is when the menu after it starts if the welcome took no time
at all, i.e. how much of the lookup a welcome of that length would have to hide.
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


INBOUND = False


def command() -> list[str]:
    script = Path(sys.executable).with_name("pingjing-agi")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "gateway.agi_main"]
    return [*cmd, "", "inbound"] if INBOUND else cmd


def _line(fd: int, buf: bytearray) -> bytes:
    while b"\n" not in buf:
        ready, _, _ = select.select([fd], [], [], 10.0)
        if not ready:
            raise RuntimeError("pingjing-agi sent nothing within 10 s")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError("pingjing-agi exited before its first prompt")
        buf += chunk
    i = buf.index(b"\n")
    line = bytes(buf[:i])
    del buf[: i + 1]
    return line


def one_run(env: dict[str, str]) -> tuple[float, float, float]:
    """(ms to the first command, ms to the first STREAM FILE, ms to the second one)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(HEADERS)
    proc.stdin.flush()
    fd = proc.stdout.fileno()
    buf = bytearray()
    try:
        first = _line(fd, buf)
        first_ms = (time.perf_counter() - start) * 1000.0
        if not first.startswith(b"ANSWER" if INBOUND else b"GET VARIABLE"):
            raise RuntimeError(f"unexpected first command: {first[:60]!r}")
        line = first
        prompts: list[float] = []
        while len(prompts) < 2:
            if line.startswith(b"STREAM FILE"):
                prompts.append((time.perf_counter() - start) * 1000.0)
                if not INBOUND:
                    break
            reply = b"200 result=1 (1)\n" if line.startswith(b"GET VARIABLE") else b"200 result=0\n"
            proc.stdin.write(reply)
            proc.stdin.flush()
            line = _line(fd, buf)
    finally:
        proc.kill()
        proc.wait()
    return first_ms, prompts[0], prompts[-1]


def baseline(code: str, env: dict[str, str]) -> float:
    """ms from Popen to the first line of ``python -c code``: what any Python script costs."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdout is not None
    try:
        _line(proc.stdout.fileno(), bytearray())
        return (time.perf_counter() - start) * 1000.0
    finally:
        proc.kill()
        proc.wait()


def _summary(label: str, times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return (
        f"  {label:<20} min {times[0]:6.1f}  median {statistics.median(times):6.1f}  "
        f"p95 {p95:6.1f}  max {times[-1]:6.1f}  (ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--limit-ms", type=float, default=150.0)
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="compile every module from source on each start (no .pyc), the worst case",
    )
    parser.add_argument("--inbound", action="store_true", help="the evaluation line's mode")
    args = parser.parse_args(argv)
    global INBOUND
    INBOUND = args.inbound
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGJING_")}
        env["PINGJING_SERVICE_DATA_DIR"] = tmp
        if INBOUND:  # a database with the schema: the lookup runs for real (and finds nothing)
            from storage.db import make_engine
            from storage.models import Base

            url = f"sqlite:///{tmp}/bench.sqlite3"
            engine = make_engine(url)
            Base.metadata.create_all(engine)
            engine.dispose()
            env["PINGJING_DATABASE_URL"] = url
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            # As installed by pip (which byte-compiles): the warm-up runs write .pyc files into
            # a private cache, never into the source tree.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        for _ in range(args.warmup):  # page cache and .pyc files, as on a running PBX
            one_run(env)
        runs = [one_run(env) for _ in range(args.runs)]
        bare = [baseline("print('x')", env) for _ in range(args.runs)]
        pyst = [baseline("import asterisk.agi; print('x')", env) for _ in range(args.runs)]
    firsts = [r[0] for r in runs]
    median = statistics.median(firsts)
    mode = "no .pyc" if args.no_bytecode else "with .pyc"
    print(
        f"pingjing-agi{' inbound' if INBOUND else ''} over {args.runs} runs, {mode} "
        f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs):"
    )
    print(_summary("first AGI command", firsts))
    print(_summary("first prompt", [r[1] for r in runs]))
    if INBOUND:
        print(_summary("first menu", [r[2] for r in runs]))
    print(_summary("python alone", bare))
    print(_summary("python + pyst2", pyst))
    print(f"  limit {args.limit_ms:.0f} ms (first command, median): ", end="")
    print("OK" if median <= args.limit_ms else "TOO SLOW")
    return 0 if median <= args.limit_ms else 1


if __name__ == "__main__":
    sys.exit(main())
