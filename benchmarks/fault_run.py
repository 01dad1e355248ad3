"""The fault run: drain a backlog of events through real gateway processes while things break.

    .venv/bin/python benchmarks/fault_run.py [--events 100000] [--seed 1] [--kills 20]
                                             [--processes 2] [--restart-services] [--out DIR]

What runs (all on 127.0.0.1, each peer behind a :class:`~benchmarks.fault_proxy.FaultProxy`):
a scratch PostgreSQL database and RabbitMQ queue; ``--processes`` ``pingjing run`` daemons
(``service.instance`` gw-a, gw-b, ...) on them, each with its own SMPP bind; ``pingjing
simulate smsc`` (citizens reply, some unsatisfied) and ``pingjing simulate pbx`` (answered calls
run the real ``pingjing-agi``), both journalling what they saw. The events are published before
the daemons start (a backlog), persistent, in AMQP transactions.

A scheduler seeded by ``--seed`` then injects, at random moments: ``kill -9`` of a daemon and
its restart (``--kills`` times), the SMSC dropping every connection mid-window, the SMSC going
silent, the SMSC throttling (submit_sm answered ESME_RTHROTTLED), the AMI link cut, the AGI
spool directory made unusable, and either a real RabbitMQ and PostgreSQL restart
(``--restart-services``: ``rabbitmqctl stop_app/start_app``, ``pg_ctlcluster ... restart``;
they are shared, so only for the long run) or, by default, every connection to them cut at the
proxy. When the backlog is drained and the faults are over, the daemons are stopped and
``benchmarks/fault_check.py`` checks the invariants; this program exits with its status.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.fault_proxy import FaultProxy  # noqa: E402

BIN = Path(sys.executable).parent
PG_SERVER = os.environ.get("PINGJING_FAULT_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
SMPP_PASSWORD = "secret"
AMI_SECRET = "secret"


def say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the scratch database and queue ---------------------------------------------------------


def create_database(name: str) -> str:
    import sqlalchemy as sa

    admin = sa.create_engine(PG_SERVER + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    return f"{PG_SERVER}/{name}"


def drop_database(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(PG_SERVER + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed_units(url: str) -> None:
    from storage import migrate
    from storage import models as m
    from storage.db import Database

    migrate.upgrade(url)
    db = Database(url, threads=1)
    try:

        def seed(session) -> None:
            station = m.Unit(code="330102001", name="城关派出所", kind="station")
            session.add(station)
            session.flush()
            session.add(m.Officer(police_number="P001", name="王警官", unit_id=station.id))

        db.run_sync(seed)
    finally:
        db.stop()


def make_events(n: int, seed: int) -> list[dict]:
    """``n`` events with distinct phones, and about 1 % published twice (the same event_id)."""
    rng = random.Random(f"{seed}-events")
    closed = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for i in range(n):
        events.append(
            {
                "event_id": f"F{seed}-{i:07d}",
                "category": rng.choice(["window", "incident", "case", "other"]),
                "business": "户籍办理",
                "unit_code": "330102001",
                "officer_ids": ["P001"],
                "citizen_phone": f"139{seed % 10}{i:07d}",
                "occurred_at": (closed - timedelta(hours=1)).isoformat(),
                "closed_at": closed.isoformat(),
            }
        )
    dupes = [events[rng.randrange(n)] for _ in range(max(1, n // 100))]
    return events + dupes


def publish(events: list[dict], queue: str, amqp_port: int) -> None:
    """Publish in AMQP transactions of 1,000 persistent messages (a child process: Twisted)."""
    code = (
        "import json, sys\n"
        "from twisted.internet import defer, task\n"
        "from tests.surveys.amqp_support import Broker\n"
        "from gateway.amqp.settings import AmqpSettings\n"
        "bodies = [line.rstrip('\\n') for line in open(sys.argv[1], encoding='utf-8')]\n"
        "params = {'host': '127.0.0.1', 'port': int(sys.argv[3]), 'user': 'guest',\n"
        "          'password': 'guest', 'vhost': '/'}\n"
        "@defer.inlineCallbacks\n"
        "def main(reactor):\n"
        "    broker = yield Broker.connect(params)\n"
        "    yield broker.declare(AmqpSettings(queue=sys.argv[2]))\n"
        "    for i in range(0, len(bodies), 1000):\n"
        "        yield broker.publish_committed(sys.argv[2], bodies[i:i + 1000])\n"
        "    yield broker.client.transport.loseConnection()\n"
        "task.react(main)\n"
    )
    path = Path(f"/tmp/fault-events-{queue}.jsonl")
    path.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(path), queue, str(amqp_port)],
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    path.unlink()


def delete_queue(queue: str) -> None:
    for name in (queue, queue + ".dead"):
        subprocess.run(
            ["rabbitmqctl", "delete_queue", name], capture_output=True, check=False, timeout=60
        )


# -- the processes ------------------------------------------------------------------------------


GATEWAY_CONFIG = """\
[service]
timezone = "Asia/Shanghai"
data_dir = "{data_dir}"
log_level = "info"
instance = "{instance}"

[database]
url = "{db_url}"
threads = 4

[http]
enabled = true
endpoint = "tcp:port={http_port}:interface=127.0.0.1"
ops_endpoint = "tcp:port={ops_port}:interface=127.0.0.1"

[smpp]
host = "127.0.0.1"
port = {smpp_port}
system_id = "pingjing"
password = "{smpp_password}"
source_addr = "10690000"
window = 10
response_timeout = 5.0
enquire_link_interval = 5.0
reconnect_initial = 0.5
reconnect_max = 5.0
unacked_policy = "mark_unknown"
stop_timeout = 3.0

[ami]
host = "127.0.0.1"
port = {ami_port}
username = "pingjing"
secret = "{ami_secret}"
originate_timeout_ms = 20000

[amqp]
enabled = true
endpoint = "tcp:host=127.0.0.1:port={amqp_port}"
queue = "{queue}"
dead_letter_exchange = "{queue}.dead"
dead_letter_queue = "{queue}.dead"
reconnect_max_seconds = 5.0

[survey]
delay_minutes = 0
window_start = "00:00"
window_end = "23:59"

[callbacks]
default_windows = ["00:00-23:59"]
max_concurrent = {max_concurrent}
retry_delays_minutes = [{retry_minutes}]

[ivr]
spool_dir = "{spool}"
recordings_dir = "{recordings}"
"""


@dataclass
class Daemon:
    instance: str
    config: Path
    log: Path
    proc: subprocess.Popen | None = None
    kills: int = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "pingjing"), "run", "--config", str(self.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        out.close()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Rig:
    args: argparse.Namespace
    out: Path
    db_name: str = ""
    db_url: str = ""
    queue: str = ""
    daemons: list[Daemon] = field(default_factory=list)
    sims: list[subprocess.Popen] = field(default_factory=list)
    proxies: dict[str, FaultProxy] = field(default_factory=dict)
    faults: list[tuple[float, str, str]] = field(default_factory=list)  # (time, fault, detail)
    lock: threading.Lock = field(default_factory=threading.Lock)
    spool: Path = Path()

    def note(self, fault: str, detail: str = "") -> None:
        with self.lock:
            self.faults.append((time.time(), fault, detail))
        say(f"fault: {fault} {detail}")


def start_simulators(rig: Rig, smsc_port: int, ami_port: int, agi_config: Path) -> None:
    a = rig.args
    smsc = subprocess.Popen(
        [
            str(BIN / "pingjing"),
            "simulate",
            "smsc",
            "--listen",
            f"tcp:port={smsc_port}:interface=127.0.0.1",
            "--password",
            SMPP_PASSWORD,
            "--seed",
            str(a.seed),
            "--speed",
            str(a.speed),
            "--reply-rate",
            str(a.reply_rate),
            "--journal",
            str(rig.out / "smsc.jsonl"),
        ],
        stdout=(rig.out / "smsc.stats.json").open("wb"),
        stderr=(rig.out / "smsc.log").open("wb"),
        cwd=REPO,
    )
    pbx = subprocess.Popen(
        [
            str(BIN / "pingjing"),
            "simulate",
            "pbx",
            "--ami-listen",
            f"tcp:port={ami_port}:interface=127.0.0.1",
            "--secret",
            AMI_SECRET,
            "--agi",
            f"{BIN / 'pingjing-agi'} {agi_config}",
            "--sounds-dir",
            str(rig.out / "sounds"),
            "--seed",
            str(a.seed),
            "--speed",
            str(a.call_speed),
            "--journal",
            str(rig.out / "pbx.jsonl"),
        ],
        stdout=(rig.out / "pbx.stats.json").open("wb"),
        stderr=(rig.out / "pbx.log").open("wb"),
        cwd=REPO,
    )
    rig.sims += [smsc, pbx]
    for port in (smsc_port, ami_port):
        wait_port(port)


def wait_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


# -- faults -------------------------------------------------------------------------------------


def plan_faults(rng: random.Random, kills: int, each: int) -> list[str]:
    """``kills`` kill -9s, ``each`` of every other fault, one broker and one database restart
    (or cut), in a seeded order."""
    plan = ["kill"] * kills
    for fault in ("smsc_drop", "smsc_silence", "smsc_throttle", "ami_cut", "spool_full"):
        plan += [fault] * each
    plan += ["rabbitmq_restart", "postgresql_restart"]
    rng.shuffle(plan)
    return plan


def inject(rig: Rig, fault: str, rng: random.Random) -> None:
    if fault == "kill":
        daemon = rng.choice(rig.daemons)
        daemon.kill9()
        rig.note("kill -9", daemon.instance)
        time.sleep(rng.uniform(0.5, 3.0))
        daemon.start()
    elif fault == "smsc_drop":
        rig.proxies["smpp"].cut(rng.uniform(0.5, 3.0))
        rig.note("SMSC drops every connection")
    elif fault == "smsc_silence":
        seconds = rng.uniform(0.5, 1.5) * rig.args.silence
        rig.proxies["smpp"].silence(seconds)
        rig.note("SMSC silent", f"{seconds:.0f} s")
    elif fault == "smsc_throttle":
        seconds = rng.uniform(3.0, 10.0)
        rig.proxies["smpp"].throttle(seconds)
        rig.note("SMSC throttles", f"{seconds:.0f} s")
    elif fault == "ami_cut":
        seconds = rng.uniform(2.0, 15.0)
        rig.proxies["ami"].cut(seconds)
        rig.note("AMI link cut", f"{seconds:.0f} s")
    elif fault == "spool_full":
        spool_full(rig, rng.uniform(5.0, 15.0))
    elif fault == "rabbitmq_restart":
        if rig.args.restart_services:
            rig.note("RabbitMQ restart (rabbitmqctl stop_app/start_app)")
            subprocess.run(["rabbitmqctl", "stop_app"], capture_output=True, timeout=120)
            time.sleep(1.0)
            subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=120)
        else:
            rig.proxies["amqp"].cut(rng.uniform(2.0, 6.0))
            rig.note("RabbitMQ connections cut (proxy)")
    elif fault == "postgresql_restart":
        if rig.args.restart_services:
            rig.note("PostgreSQL restart (pg_ctlcluster 15 main restart)")
            subprocess.run(
                ["pg_ctlcluster", "15", "main", "restart", "-m", "fast"],
                capture_output=True,
                timeout=120,
            )
        else:
            rig.proxies["pg"].cut(rng.uniform(2.0, 6.0))
            rig.note("PostgreSQL connections cut (proxy)")


def spool_full(rig: Rig, seconds: float) -> None:
    """The AGI spool becomes unusable (a file where the directory was) for a while; what was
    in it is put back afterwards."""
    aside = rig.spool.with_name("spool.aside")
    rig.spool.rename(aside)
    rig.spool.write_text("not a directory: the spool is full\n")
    rig.note("AGI spool unusable", f"{seconds:.0f} s")
    time.sleep(seconds)
    rig.spool.unlink()
    aside.rename(rig.spool)


def fault_loop(rig: Rig, plan: list[str], stop: threading.Event) -> None:
    rng = random.Random(f"{rig.args.seed}-faults")
    for fault in plan:
        if stop.wait(rng.uniform(0.5, 1.5) * rig.args.fault_every):
            return
        try:
            inject(rig, fault, rng)
        except Exception as exc:  # a fault that could not be injected is reported, not fatal
            rig.note(f"{fault} failed", str(exc))


# -- draining -----------------------------------------------------------------------------------


def progress(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            one = conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM service_events),"
                    " (SELECT count(*) FROM outbound_messages WHERE status IN"
                    "  ('queued','submitting')),"
                    " (SELECT count(*) FROM outbound_messages),"
                    " (SELECT count(*) FROM inbound_messages),"
                    " (SELECT count(*) FROM inbound_messages WHERE match_status = 'new'),"
                    " (SELECT count(*) FROM callback_tasks WHERE status IN"
                    "  ('pending','in_progress')),"
                    " (SELECT count(*) FROM callback_tasks)"
                )
            ).one()
    finally:
        engine.dispose()
    keys = ("events", "outbox_open", "sms", "replies", "replies_new", "callbacks_open", "callbacks")
    return dict(zip(keys, (int(v) for v in one), strict=True))


def expected_replies(journal: Path) -> int:
    n = 0
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == "sms" and record.get("reply"):
                n += 1
    return n


def drain(rig: Rig, unique_events: int, faults_done: threading.Event) -> dict[str, int]:
    deadline = time.monotonic() + rig.args.max_minutes * 60
    last: dict[str, int] = {}
    quiet_since = None
    while time.monotonic() < deadline:
        time.sleep(3)
        try:
            now = progress(rig.db_url)
        except Exception as exc:
            say(f"progress unreadable ({exc.__class__.__name__}); the database may be restarting")
            continue
        if now != last:
            say(
                "events {events}/{total}, SMS {sms} ({outbox_open} open), replies {replies} "
                "({replies_new} new), callbacks {callbacks} ({callbacks_open} open)".format(
                    total=unique_events, **now
                )
            )
            last, quiet_since = now, time.monotonic()
        drained = (
            now["events"] >= unique_events
            and now["outbox_open"] == 0
            and now["replies_new"] == 0
            and now["callbacks_open"] == 0
            and now["replies"] >= expected_replies(rig.out / "smsc.jsonl") * 0.98
        )
        quiet = quiet_since is not None and time.monotonic() - quiet_since > rig.args.quiet
        if faults_done.is_set() and drained and quiet:
            return now
    say("not drained before --max-minutes; stopping anyway (the checker reports what is left)")
    return last


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--each", type=int, default=2, help="how many of every other fault")
    p.add_argument("--fault-every", type=float, default=12.0, help="mean seconds between faults")
    p.add_argument("--restart-services", action="store_true")
    p.add_argument("--max-concurrent", type=int, default=4)
    p.add_argument("--retry-minutes", default="0.2, 0.4", help="callback retry delays")
    p.add_argument("--silence", type=float, default=10.0, help="mean SMSC silence, seconds")
    p.add_argument("--speed", type=float, default=120.0, help="SMSC citizens' time compression")
    p.add_argument("--call-speed", type=float, default=20.0, help="PBX callees' compression")
    p.add_argument("--reply-rate", type=float, default=0.25)
    p.add_argument("--max-minutes", type=float, default=90.0)
    p.add_argument("--quiet", type=float, default=20.0, help="seconds without change = drained")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the scratch database and queue")
    args = p.parse_args()
    # stopped from outside (SIGTERM, Ctrl-C): still stop what it started and drop the scratch
    # database and queue
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = (args.out or REPO / "var" / f"fault-run-{args.seed}").resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "sounds").mkdir(parents=True)
    rig = Rig(args, out, spool=out / "spool")
    rig.spool.mkdir()
    tag = uuid.uuid4().hex[:8]
    rig.db_name, rig.queue = f"pingjing_fault_{tag}", f"pingjing.fault.{tag}"
    started = time.time()
    status = 1
    stop_faults = threading.Event()
    try:
        rig.db_url = create_database(rig.db_name)
        seed_units(rig.db_url)
        rig.proxies["pg"] = FaultProxy("127.0.0.1", 5432).start()
        rig.proxies["amqp"] = FaultProxy("127.0.0.1", 5672).start()
        events = make_events(args.events, args.seed)
        say(f"publishing {len(events)} events ({args.events} distinct) to {rig.queue}")
        publish(events, rig.queue, 5672)
        smsc_port, ami_port = free_port(), free_port()
        gateway_db = rig.db_url.replace(":5432/", f":{rig.proxies['pg'].port}/")
        if args.restart_services:
            gateway_db = rig.db_url  # a real restart: no proxy in between
        agi_config = out / "agi.toml"
        agi_config.write_text(
            f'[service]\ndata_dir = "{out}"\n[database]\nurl = "{gateway_db}"\n'
            f'[ivr]\nspool_dir = "{rig.spool}"\nrecordings_dir = "{out / "recordings"}"\n',
            encoding="utf-8",
        )
        start_simulators(rig, smsc_port, ami_port, agi_config)
        rig.proxies["smpp"] = FaultProxy("127.0.0.1", smsc_port, smpp=True).start()
        rig.proxies["ami"] = FaultProxy("127.0.0.1", ami_port).start()
        amqp_port = 5672 if args.restart_services else rig.proxies["amqp"].port
        for i in range(args.processes):
            instance = f"gw-{chr(ord('a') + i)}"
            config = out / f"{instance}.toml"
            config.write_text(
                GATEWAY_CONFIG.format(
                    data_dir=out / instance,
                    instance=instance,
                    db_url=gateway_db,
                    http_port=free_port(),
                    ops_port=free_port(),
                    smpp_port=rig.proxies["smpp"].port,
                    smpp_password=SMPP_PASSWORD,
                    ami_port=rig.proxies["ami"].port,
                    ami_secret=AMI_SECRET,
                    amqp_port=amqp_port,
                    queue=rig.queue,
                    max_concurrent=args.max_concurrent,
                    retry_minutes=args.retry_minutes,
                    spool=rig.spool,
                    recordings=out / "recordings",
                ),
                encoding="utf-8",
            )
            daemon = Daemon(instance, config, out / f"{instance}.log")
            daemon.start()
            rig.daemons.append(daemon)
        rng = random.Random(f"{args.seed}-plan")
        plan = plan_faults(rng, args.kills, args.each)
        faults_done = threading.Event()

        def run_faults() -> None:
            fault_loop(rig, plan, stop_faults)
            faults_done.set()

        threading.Thread(target=run_faults, daemon=True, name="faults").start()
        final = drain(rig, args.events, faults_done)
        stop_faults.set()
        elapsed = time.time() - started
        for daemon in rig.daemons:
            daemon.stop()
        for sim in rig.sims:
            sim.send_signal(signal.SIGINT)
        for sim in rig.sims:
            try:
                sim.wait(30)
            except subprocess.TimeoutExpired:
                sim.kill()
        summary = {
            "seed": args.seed,
            "events": args.events,
            "published": len(events),
            "processes": args.processes,
            "restart_services": args.restart_services,
            "elapsed_seconds": round(elapsed, 1),
            "final": final,
            "kills": sum(d.kills for d in rig.daemons),
            "faults": [
                {"at": round(at - started, 1), "fault": f, "detail": d} for at, f, d in rig.faults
            ],
            "proxies": {name: dict(proxy.stats) for name, proxy in rig.proxies.items()},
            "command": " ".join(sys.argv),
        }
        (out / "run.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        say(f"drained in {elapsed:.0f} s with {len(rig.faults)} faults; checking invariants")
        check = subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "fault_check.py"),
                "--db",
                rig.db_url,
                "--run",
                str(out),
                "--max-concurrent",
                str(args.max_concurrent),
            ],
            cwd=REPO,
        )
        status = check.returncode
    finally:
        stop_faults.set()
        for daemon in rig.daemons:
            daemon.stop()
        for sim in rig.sims:
            if sim.poll() is None:
                sim.kill()
        for proxy in rig.proxies.values():
            proxy.stop()
        if not args.keep and rig.db_name:
            delete_queue(rig.queue)
            drop_database(rig.db_name)
    return status


if __name__ == "__main__":
    sys.exit(main())
