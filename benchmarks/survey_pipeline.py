"""Benchmark (not a test): events through RabbitMQ into PostgreSQL, SMS out, replies back.

    .venv/bin/python benchmarks/survey_pipeline.py [--events 100000] [--replies 25000]

Needs RabbitMQ and PostgreSQL on 127.0.0.1 (as the tests do). Creates a scratch database and
queue and removes them afterwards. Three paths, measured one after the other in one process:

1. events: N JSON events already on the queue → consumer → group-committed intake → committed;
2. SMS: the outbox drained through the SMPP client to the node-smpp peer (``--smsc peer``, the
   default: real binds, window 50, no rate cap, every part and DELIVRD receipt persisted by the
   SMPP store, survey states by the pipeline, all in the same database and process), or through
   an in-process fake that accepts every submit at once (``--smsc fake``: our side alone);
3. replies: M citizens of the first surveys answer, ``--reply-rate`` per second (each at its own
   arrival time; ``--reply-rate 0`` all at once, to measure capacity, the latency then including
   the backlog). With ``--smsc peer`` the peer sends them as UCS2 deliver_sm and they take the
   production path: SMPP client → SMPP store (reply row committed, deliver_sm_resp) →
   classifier → matching → rating (+ callback task, thank-you SMS queued) committed; latency
   runs from when the peer was due to send a reply to its rating's commit. With
   ``--replies-from offered`` (the default with ``--smsc fake``) the replies are stored
   beforehand and handed to the pipeline directly, leaving the SMPP client's part out.

Results are printed as a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # gateway, storage, benchmarks

import sqlalchemy as sa
from twisted.internet import defer, reactor, task

from gateway.amqp.consumer import EventConsumer
from gateway.smpp.api import InboundSms, SubmitOutcome
from gateway.surveys.intake import EventIntake
from gateway.surveys.pipeline import SurveyPipeline
from gateway.surveys.settings import SurveySettings
from storage import models as m
from storage.db import Database
from storage.events_store import SqlEventStore

AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai: inside sending hours


def cpu_seconds() -> float:
    """User + system CPU of this process (every thread): less sensitive than wall time to what
    else the machine runs, so it is the figure an A/B on a shared machine compares."""
    times = os.times()
    return times.user + times.system


class DaytimeClock:
    """Real scheduling, with 'now' pinned to a daytime instant so the run works at any hour."""

    def __init__(self) -> None:
        self._offset = AT.timestamp() - reactor.seconds()

    def seconds(self) -> float:
        return reactor.seconds() + self._offset

    def callLater(self, *args, **kwargs):
        return reactor.callLater(*args, **kwargs)


class AcceptingSmpp:
    """The SMPP service contract, accepting every submit at once."""

    def __init__(self) -> None:
        self.submitted = 0
        self._observers: list = []

    def submit(self, sms):
        self.submitted += 1
        return defer.succeed(SubmitOutcome(sms.outbound_id, "submitted", ("m",), 1, None))

    def add_reply_observer(self, fn) -> None:
        pass

    def add_receipt_observer(self, fn) -> None:
        pass

    def add_availability_observer(self, fn) -> None:
        fn(True)


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


def seed(session) -> None:
    station = m.Unit(code="330102001", name="城关派出所", kind="station")
    session.add(station)
    session.flush()
    session.add(m.Officer(police_number="P001", name="王警官", unit_id=station.id))


def event_body(i: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"BENCH-{i:07d}",
            "category": "window",
            "business": "户籍办理",
            "unit_code": "330102001",
            "officer_ids": ["P001"],
            "citizen_phone": f"13{i:09d}",
            "occurred_at": (AT - timedelta(hours=2)).isoformat(),
            "closed_at": (AT - timedelta(hours=1)).isoformat(),
        },
        ensure_ascii=False,
    ).encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


@defer.inlineCallbacks
def wait(predicate, step: float = 0.05, what=lambda: ""):
    started = time.perf_counter()
    last = started
    while not predicate():
        yield task.deferLater(reactor, step, lambda: None)
        if time.perf_counter() - last > 10:
            last = time.perf_counter()
            print(f"  ... still waiting for {what()} ({last - started:.0f}s)", file=sys.stderr)


@defer.inlineCallbacks
def run(args: argparse.Namespace):
    from tests.surveys.amqp_support import Broker, unique_settings

    amqp_params = {"host": "127.0.0.1", "port": 5672, "user": "guest", "password": "guest"}
    amqp_params["vhost"] = "/"
    url, name = make_database(args.postgres)
    db = Database(url, threads=args.threads)
    m.Base.metadata.create_all(db.engine)
    db.run_sync(seed)
    settings = SurveySettings(**({"outbox_in_flight": args.in_flight} if args.in_flight else {}))
    clock = DaytimeClock()
    amqp = unique_settings(amqp_params, prefetch=args.prefetch)
    broker = yield Broker.connect(amqp_params)
    rows: list[tuple[str, str]] = []
    try:
        yield broker.declare(amqp)
        for i in range(args.events):
            broker.publish(amqp.queue, event_body(i))
            if i % 5000 == 4999:
                yield broker.count(amqp.queue)  # a round trip: let the publisher drain
        yield wait_count(broker, amqp.queue, args.events)
        # 1. events
        intake = EventIntake(db, settings, store=SqlEventStore(), clock=clock, max_batch=args.batch)
        stored = []
        consumer = EventConsumer(
            amqp,
            lambda body: intake.ingest_body(body, "amqp").addCallback(
                lambda result: (stored.append(result), result)[1]
            ),
        )
        print(f"  events: consuming {args.events:,}", file=sys.stderr, flush=True)
        t0, c0 = time.perf_counter(), cpu_seconds()
        consumer.startService()
        yield wait(lambda: len(stored) >= args.events, what=lambda: f"events stored: {len(stored)}")
        events_s = args.events / (time.perf_counter() - t0)
        yield consumer.stopService()
        rows.append(("events (RabbitMQ → PostgreSQL, committed)", f"{events_s:,.0f} /s"))
        rows.append(("… CPU of this process per event", cpu_per(c0, args.events)))
        # 2. SMS
        if args.smsc == "peer":
            smpp = yield start_smpp(db, clock)
        else:
            smpp = AcceptingSmpp()
        pipeline = TimedPipeline(db, smpp, settings, clock=clock, **survey_store())
        if args.smsc == "peer":
            pipeline.settle_in_sms_store(smpp.store)  # as the daemon wires it (gateway.app)
        print(f"  sms: sending {args.events:,}", file=sys.stderr, flush=True)
        t0, c0 = time.perf_counter(), cpu_seconds()
        pipeline.startService()
        yield wait(lambda: submitted(smpp) >= args.events, what=lambda: f"{submitted(smpp)} sent")
        yield pipeline.idle()
        while pipeline._submits:
            yield defer.DeferredList(list(pipeline._submits))
        yield pipeline.idle()
        sms_s = args.events / (time.perf_counter() - t0)
        sms_cpu = cpu_per(c0, args.events)
        if args.smsc == "peer":
            counts = yield db.run(survey_states)
            yield wait_for(
                lambda: db.run(survey_states), lambda c: c.get("delivered", 0) >= args.events
            )
            delivered_s = args.events / (time.perf_counter() - t0)
            rows.append(
                (
                    "SMS (outbox → SMPP client → node-smpp peer → survey sent, committed)",
                    f"{sms_s:,.0f} /s",
                )
            )
            rows.append(
                ("… and every DELIVRD receipt applied to its survey", f"{delivered_s:,.0f} /s")
            )
            rows.append(
                (
                    "survey states when all were sent",
                    ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                )
            )
        else:
            rows.append(
                ("SMS (outbox → in-process fake SMSC → survey sent, committed)", f"{sms_s:,.0f} /s")
            )
        rows.append(("… CPU of this process per SMS sent", sms_cpu))
        # 3. replies
        c0 = cpu_seconds()
        if args.replies_from == "peer":
            latencies, replies_s, path = yield replies_through_peer(args, pipeline)
        else:
            latencies, replies_s, path = yield replies_offered(args, db, pipeline)
        feed = "burst" if args.reply_rate <= 0 else f"paced {args.reply_rate:,}/s"
        rows.append((f"replies ({path}; {feed})", f"{replies_s:,.0f} /s"))
        rows.append(("… CPU of this process per reply", cpu_per(c0, args.replies)))
        rows.append(("reply-to-stored latency p50", f"{percentile(latencies, 0.5) * 1000:.0f} ms"))
        rows.append(("reply-to-stored latency p99", f"{percentile(latencies, 0.99) * 1000:.0f} ms"))
        # The thank-you SMS the replies queued are sent while later replies are rated: a
        # slower reply phase sends more of them inside it, which makes the CPU per reply above
        # grow faster than the work. Count until every one of them is sent (and its receipt
        # applied, with the peer) for a figure that covers the same work on any commit.
        yield wait_for(lambda: db.run(unsent, args.smsc == "peer"), lambda n: n == 0)
        rows.append(("… CPU per reply, its thank-you SMS sent too", cpu_per(c0, args.replies)))
        marks = getattr(getattr(smpp, "marks", None), "counts", None)
        if marks is not None:
            rows.append(
                (
                    "wire marks: mark transactions / SMS they marked / SMS marked by the claim",
                    f"{marks['batches']:,} / {marks['marked']:,} / {marks['by_claim']:,}",
                )
            )
            rows.append(
                (
                    "… their reach: grown / shrunk / at the end (wire_mark_ahead .. _max)",
                    f"{marks['grown']} / {marks['shrunk']} / {smpp.marks.allowance}",
                )
            )
        yield pipeline.stopService()
        if args.smsc == "peer":
            yield smpp.stopService()
        counts = db.run_sync(
            lambda s: (
                s.scalar(sa.select(sa.func.count()).select_from(m.Survey)),
                s.scalar(
                    sa.select(sa.func.count())
                    .select_from(m.Survey)
                    .where(m.Survey.status == "replied")
                ),
                s.scalar(sa.select(sa.func.count()).select_from(m.CallbackTask)),
            )
        )
        rows.append(("surveys / replied / callback tasks", " / ".join(str(c) for c in counts)))
    finally:
        yield broker.cleanup(amqp)
        db.stop()
        if not args.keep:
            drop_database(args.postgres, name)
    print(
        f"\n{args.events:,} events, {args.replies:,} replies, {args.threads} DB threads, "
        f"prefetch {args.prefetch}, batch {args.batch}\n"
    )
    print("| path | result |\n| --- | --- |")
    for what, value in rows:
        print(f"| {what} | {value} |")


TEXTS = ["1", "2", "3 接警太慢", "满意", "不满意，态度生硬"]


def survey_store() -> dict[str, object]:
    """The store argument where the pipeline takes one (the A/B runs this file on older
    commits too, whose pipeline reached storage itself)."""
    import inspect

    if "store" not in inspect.signature(SurveyPipeline.__init__).parameters:
        return {}
    from storage.survey_store import SqlSurveyStore

    return {"store": SqlSurveyStore()}


class TimedPipeline(SurveyPipeline):
    """The pipeline, telling ``committed(inbound)`` when a reply's rating has committed."""

    committed = None

    def on_reply(self, inbound):
        d = super().on_reply(inbound)
        if self.committed is not None:
            d.addCallback(lambda outcome: (self.committed(inbound), outcome)[1])
        return d


@defer.inlineCallbacks
def replies_through_peer(args, pipeline):
    """The peer sends the replies as deliver_sm (UCS2) from the citizens of the first surveys:
    our SMPP client reads and stores them and the pipeline rates them, as in production. A
    reply's latency runs from when the peer was due to send it (paced) or from the start."""
    done: dict[int, float] = {}
    pipeline.committed = lambda inbound: done.setdefault(int(inbound.source_addr[-9:]), time.time())
    peer = _PEERS[-1]
    command = {"cmd": "mo", "count": args.replies, "rate": args.reply_rate, "texts": TEXTS}
    print(f"  replies: offering {args.replies:,}", file=sys.stderr, flush=True)
    t0 = time.time()
    peer.stdin.write(json.dumps(command, ensure_ascii=False) + "\n")
    peer.stdin.flush()
    yield wait(lambda: len(done) >= args.replies, what=lambda: f"replies rated: {len(done)}")
    replies_s = args.replies / (max(done.values()) - t0)
    rate = args.reply_rate
    latencies = [at - (t0 + (i / rate if rate > 0 else 0)) for i, at in done.items()]
    return latencies, replies_s, "node-smpp peer → SMPP client → stored → rated, committed"


@defer.inlineCallbacks
def replies_offered(args, db, pipeline):
    """Replies stored beforehand, handed to the pipeline at their arrival times (the SMPP
    client's part left out)."""

    def insert_replies(session):
        ids = session.scalars(
            sa.insert(m.InboundMessage).returning(
                m.InboundMessage.id, sort_by_parameter_order=True
            ),
            [
                {
                    "source_addr": f"86 13{i:09d}".replace(" ", ""),
                    "destination_addr": "1069",
                    "data_coding": 8,
                    "raw_hex": "",
                    "text": TEXTS[i % len(TEXTS)],
                    "received_at": AT,
                }
                for i in range(args.replies)
            ],
        ).all()
        return list(ids)

    ids = db.run_sync(insert_replies)
    print(f"  replies: offering {len(ids):,}", file=sys.stderr, flush=True)
    latencies: list[float] = []

    def one(i: int, inbound_id: int):
        sms = InboundSms(inbound_id, f"13{i:09d}", "1069", TEXTS[i % len(TEXTS)], False, AT)
        start = time.perf_counter()
        d = pipeline.on_reply(sms)
        d.addCallback(lambda _: latencies.append(time.perf_counter() - start))
        return d

    t0 = time.perf_counter()
    if args.reply_rate <= 0:  # capacity: offered in bursts, as fast as the reactor turns
        sent = 0
        while sent < len(ids):
            for i in range(sent, min(sent + args.reply_burst, len(ids))):
                one(i, ids[i])
            sent = min(sent + args.reply_burst, len(ids))
            yield task.deferLater(reactor, 0, lambda: None)
    else:  # paced: each reply offered at its arrival time, so latency is not backlog
        sent = 0
        while sent < len(ids):
            due = min(len(ids), int((time.perf_counter() - t0) * args.reply_rate) + 1)
            for i in range(sent, due):
                one(i, ids[i])
            sent = due
            yield task.deferLater(reactor, 0.005, lambda: None)
    yield wait(lambda: len(latencies) >= len(ids))
    replies_s = len(ids) / (time.perf_counter() - t0)
    return latencies, replies_s, "classify → match → rating committed"


def submitted(smpp) -> int:
    if isinstance(smpp, AcceptingSmpp):
        return smpp.submitted
    return smpp.stats["outcome_submitted"]


def survey_states(session) -> dict[str, int]:
    return dict(
        session.execute(sa.select(m.Survey.status, sa.func.count()).group_by(m.Survey.status)).all()
    )


def unsent(session, awaiting_receipts: bool) -> int:
    """Outbound SMS not sent yet (and, with the peer, whose receipt has not been applied)."""
    waiting = ["queued", "submitting"] + (["submitted"] if awaiting_receipts else [])
    o = m.OutboundMessage
    return session.scalar(sa.select(sa.func.count()).select_from(o).where(o.status.in_(waiting)))


@defer.inlineCallbacks
def wait_for(read, done, step: float = 0.2):
    while not done((yield read())):
        yield task.deferLater(reactor, step, lambda: None)


_PEERS: list = []


@defer.inlineCallbacks
def start_smpp(db, clock):
    """The real SMPP client and SQL store against the node-smpp peer (as benchmarks/
    smpp_throughput.py runs it), in this process and database."""
    from benchmarks.smpp_throughput import start_peer
    from gateway.smpp.service import SmppService
    from gateway.smpp.settings import SmppSettings
    from storage.sms_store import SqlSmsStore

    peer, port = start_peer(control=True)
    _PEERS.append(peer)
    settings = SmppSettings(
        port=port, system_id="plain", password="secret", source_addr="10690", window=50,
        response_timeout=30, rate_limit=0,
    )  # fmt: skip
    smpp = SmppService(settings, SqlSmsStore(db), clock=reactor, business_clock=clock)
    smpp.startService()
    yield smpp.whenBound()
    return smpp


def cpu_per(since: float, items: int) -> str:
    return f"{(cpu_seconds() - since) / items * 1e6:,.0f} µs"


@defer.inlineCallbacks
def wait_count(broker, queue: str, n: int):
    while (count := (yield broker.count(queue))) < n:
        print(f"  published {count}/{n}", file=sys.stderr)
        yield task.deferLater(reactor, 0.1, lambda: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--replies", type=int, default=25_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--prefetch", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--reply-burst", type=int, default=500)
    parser.add_argument(
        "--reply-rate",
        type=int,
        default=3000,
        help="replies offered per second (latency at that load); 0 offers them all at once",
    )
    parser.add_argument(
        "--in-flight", type=int, default=0, help="surveys.outbox_in_flight (default: the setting's)"
    )
    parser.add_argument(
        "--smsc",
        choices=("peer", "fake"),
        default="peer",
        help="SMS through the real SMPP client and the node-smpp peer, or an in-process fake",
    )
    parser.add_argument(
        "--replies-from",
        choices=("peer", "offered"),
        default=None,
        help="replies sent by the node-smpp peer through the SMPP client (default with "
        "--smsc peer), or stored beforehand and offered to the pipeline (default with fake)",
    )
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's collector thresholds (the daemon tunes them: gateway.runtime)",
    )
    args = parser.parse_args()
    if args.replies_from is None:
        args.replies_from = "peer" if args.smsc == "peer" else "offered"
    if args.replies_from == "peer" and args.smsc != "peer":
        parser.error("--replies-from peer needs --smsc peer")
    if not args.default_gc:
        from gateway.runtime import tune_gc

        tune_gc()
    failures = []

    def done(result):
        if isinstance(result, Exception) or hasattr(result, "printTraceback"):
            failures.append(result)
            result.printTraceback()
        reactor.stop()

    reactor.callWhenRunning(lambda: run(args).addBoth(done))
    try:
        reactor.run()
    finally:
        for peer in _PEERS:
            peer.kill()
            peer.wait()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
