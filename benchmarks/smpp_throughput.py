"""SMPP throughput benchmark: N one-part Chinese SMS through the node-smpp peer, receipts on,
window 50, no rate cap, every part, outcome and receipt persisted to PostgreSQL.

    .venv/bin/python benchmarks/smpp_throughput.py --messages 20000 --runs 3
    .venv/bin/python benchmarks/smpp_throughput.py --rate-check

Not a timed test: it prints figures for docs/benchmarks.md (messages/s until every outcome and
every receipt is committed; p50/p99 submit_sm → submit_sm_resp latency), and with --rate-check
the measured PDU rate against caps of 10, 100 and 1,000 per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from twisted.internet import defer, task  # noqa: E402

from gateway.smpp.api import OutboundSms  # noqa: E402
from gateway.smpp.service import SmppService  # noqa: E402
from gateway.smpp.settings import SmppSettings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Base, OutboundMessage  # noqa: E402
from storage.sms_store import SqlSmsStore  # noqa: E402

TEXT = "【某市公安局】您好，请对民警的服务进行评价：回复1满意，2基本满意，3不满意。"
PG_SERVER = os.environ.get(
    "PINGJING_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def start_peer(*, control: bool = False) -> tuple[subprocess.Popen, int]:
    """The node-smpp peer; with ``control`` its stdin takes commands (see peer.js)."""
    node = shutil.which("node")
    if node is None:
        sys.exit("node is needed for the node-smpp peer (make peer)")
    proc = subprocess.Popen(
        [node, str(ROOT / "tests/smpp_peer/peer.js"), "--port", "0", "--quiet"]
        + (["--control"] if control else []),
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE if control else None,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("LISTENING"):
        sys.exit(f"peer did not start: {line!r}")
    return proc, int(line.split()[1])


def fresh_database(n: int) -> tuple[str, sa.Engine]:
    name = f"pingjing_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_SERVER.rsplit("/", 1)[0] + "/" + name
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(OutboundMessage),
            [
                {"id": i, "kind": "survey", "destination": "13812345678", "text": TEXT}
                for i in range(1, n + 1)
            ],
        )
    return name, admin


def drop_database(name: str, admin: sa.Engine) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class NoStore:
    """--store none: commits nothing, to measure the protocol path alone (not a real mode)."""

    batches = 0

    def record_submission(self, outcome, parts):
        return defer.succeed([])

    def record_receipt(self, receipt):
        from gateway.smpp.api import ReceiptUpdate

        return defer.succeed(ReceiptUpdate(1, receipt.message_id, receipt.state, "delivered"))

    def held_inbound_parts(self):
        return defer.succeed([])

    def unsure_replies(self):
        return defer.succeed([])

    def mark_acked(self, delivery_ids, at):
        return defer.succeed(None)


async def one_run(reactor, port: int, n: int, window: int, persist: bool = True) -> dict:
    if persist:
        name, admin = fresh_database(n)
        url = PG_SERVER.rsplit("/", 1)[0] + "/" + name
        db = Database(url, reactor=reactor, threads=2)
        store = SqlSmsStore(db)
    else:
        store = NoStore()
    settings = SmppSettings(
        port=port, system_id="plain", password="secret", source_addr="10690", window=window,
        response_timeout=30, rate_limit=0,
    )  # fmt: skip
    service = SmppService(settings, store, clock=reactor)
    latencies: list[float] = []
    service.latency = latencies.append  # type: ignore[method-assign]
    finals = 0
    all_final: defer.Deferred[None] = defer.Deferred()

    def on_receipt(update) -> None:
        nonlocal finals
        if update.final_status is not None:
            finals += 1
            if finals == n and not all_final.called:
                all_final.callback(None)

    service.add_receipt_observer(on_receipt)
    service.startService()
    await service.whenBound()
    started = time.perf_counter()
    outcomes = await defer.gatherResults(
        [service.submit(OutboundSms(i, "13812345678", TEXT)) for i in range(1, n + 1)]
    )
    submitted_at = time.perf_counter()
    await all_final
    finished = time.perf_counter()
    await service.stopService()
    delivered = parts = receipts = None
    if persist:
        db.stop()
        with sa.create_engine(url).connect() as conn:
            delivered = conn.scalar(
                sa.text("select count(*) from outbound_messages where status = 'delivered'")
            )
            parts = conn.scalar(sa.text("select count(*) from sms_parts"))
            receipts = conn.scalar(sa.text("select count(*) from delivery_receipts"))
        drop_database(name, admin)
    latencies.sort()
    return {
        "messages": n,
        "submitted": sum(o.status == "submitted" for o in outcomes),
        "delivered_rows": delivered,
        "part_rows": parts,
        "receipt_rows": receipts,
        "seconds": round(finished - started, 3),
        "messages_per_s": round(n / (finished - started), 1),
        "submit_phase_per_s": round(n / (submitted_at - started), 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2),
        "store_batches": store.batches,
    }


async def rate_run(reactor, port: int, rate: float, seconds: float) -> dict:
    from gateway.smpp.store import MemorySmsStore
    from storage.db import Database  # noqa: F401  (kept symmetrical; memory store here)

    settings = SmppSettings(
        port=port, system_id="noreceipt", password="secret", source_addr="10690", window=50,
        rate_limit=rate,
    )  # fmt: skip
    service = SmppService(settings, MemorySmsStore(), clock=reactor)
    service.startService()
    await service.whenBound()
    n = int(rate * (seconds + 2))
    ds = [service.submit(OutboundSms(i, "13812345678", TEXT)) for i in range(n)]
    await task.deferLater(reactor, 1.0, lambda: None)  # past the start
    c0, t0 = service.stats["submit_sm"], time.perf_counter()
    await task.deferLater(reactor, seconds, lambda: None)
    c1, t1 = service.stats["submit_sm"], time.perf_counter()
    await defer.gatherResults(ds)
    await service.stopService()
    measured = (c1 - c0) / (t1 - t0)
    return {
        "cap": rate,
        "measured": round(measured, 2),
        "error_pct": round(100 * (measured - rate) / rate, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate-check", action="store_true")
    parser.add_argument(
        "--store",
        choices=("postgres", "none"),
        default="postgres",
        help="none: persist nothing, to measure the SMPP path alone",
    )
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's collector thresholds (the daemon tunes them: gateway.runtime)",
    )
    args = parser.parse_args()
    if not args.default_gc:
        from gateway.runtime import tune_gc

        tune_gc()
    peer, port = start_peer()
    results: list[dict] = []

    async def body(reactor):
        if args.rate_check:
            for rate, secs in ((10, 20), (100, 10), (1000, 10)):
                results.append(await rate_run(reactor, port, rate, secs))
                print(json.dumps(results[-1]), flush=True)
            return
        for _ in range(args.runs):
            results.append(
                await one_run(reactor, port, args.messages, args.window, args.store == "postgres")
            )
            print(json.dumps(results[-1]), flush=True)

    try:
        task.react(lambda reactor: defer.ensureDeferred(body(reactor)))
    except SystemExit:
        pass
    finally:
        peer.terminate()
    if results and not args.rate_check:
        rates = [r["messages_per_s"] for r in results]
        print(json.dumps({
            "machine": f"{platform.machine()} {os.cpu_count()} CPU, "
            f"Python {platform.python_version()}",
            "median_messages_per_s": statistics.median(rates),
            "median_p50_ms": statistics.median(r["p50_ms"] for r in results),
            "median_p99_ms": statistics.median(r["p99_ms"] for r in results),
        }))  # fmt: skip


if __name__ == "__main__":
    main()
