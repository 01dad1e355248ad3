"""``pingjing demo``: the real daemon, an SMSC simulator and a PBX simulator on 127.0.0.1.

The daemon is the one ``twistd pingjing`` runs (``gateway.app.make_service``); only business
time is compressed (``speed`` simulated seconds per real second) so a day and a night of sending
hours, reply windows, calling windows and retry delays pass in well under a minute. Wire
protocols (SMPP, AMI, AGI, HTTP) keep real time. Events arrive through the HTTP door, as a
business system would send them, at the simulated moment each service ends.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

CONF = Path(__file__).resolve().parents[2] / "conf"
ZONE = ZoneInfo("Asia/Shanghai")
SMPP_SYSTEM_ID = "pingjing"
#: What repliers say: close to the seed system's 97% (basically) satisfied, with enough
#: unsatisfied citizens in a few hundred events to show every callback path.
CITIZEN_INTENTS = {
    "satisfied": 0.70,
    "basically_satisfied": 0.11,
    "unsatisfied": 0.12,
    "opt_out": 0.04,
    "unknown": 0.03,
}


@dataclass
class Feed:
    """What the HTTP door answered for each event the demo sent."""

    accepted: int = 0
    duplicate: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    sent: int = 0


@dataclass
class DemoRun:
    out: Path
    config: Path
    day: date
    feed: Feed
    simulated_end: datetime
    real_seconds: float
    finished: bool
    smsc: dict[str, Any]
    calls: int


def prepare(out: Path, say: Callable[[str], None]) -> Path:
    """A fresh folder with a database, the sample registry, secrets and a configuration."""
    from storage import migrate
    from storage.db import Database
    from storage.units import import_file

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    out = out.resolve()
    for name, value in (
        ("smpp.secret", secrets.token_hex(4)),
        ("ami.secret", secrets.token_hex(8)),
    ):
        (out / name).write_text(value + "\n")
        (out / name).chmod(0o600)
    token = secrets.token_urlsafe(18)
    (out / "tokens.toml").write_text(
        "# API tokens for this demo. The inspectorate token sees every unit.\n"
        f'[[token]]\nname = "inspectorate"\ntoken = "{token}"\nunit = ""\n\n'
        f'[[token]]\nname = "hongta"\ntoken = "{secrets.token_urlsafe(18)}"\n'
        'unit = "530402000000"\n'
    )
    (out / "tokens.toml").chmod(0o600)
    config = out / "pingjing.toml"
    config.write_text(DEMO_CONFIG.format(out=out), encoding="utf-8")
    url = f"sqlite:///{out / 'pingjing.sqlite3'}"
    migrate.upgrade(url)
    say(f"  database {out / 'pingjing.sqlite3'} (schema {migrate.current_revision(url)})")
    db = Database(url)
    try:
        for name in ("units.csv", "officers.csv", "leaders.csv"):
            report = db.run_sync(import_file, (CONF / name).read_text(encoding="utf-8"), name)
            if report.errors:
                raise SystemExit("\n".join(report.errors))
            say(f"  loaded {report.created} {report.kind} from conf/{name}")
    finally:
        db.stop()
    return config


DEMO_CONFIG = """\
# Written by `pingjing demo`. Use it to explore what the demo left behind, e.g.
#   pingjing export surveys --config {out}/pingjing.toml --format csv
#   pingjing run --config {out}/pingjing.toml    (then the HTTP API on 127.0.0.1:8080)

[service]
data_dir = "{out}"

[http]
endpoint = "tcp:port=8080:interface=127.0.0.1"
tokens_file = "{out}/tokens.toml"

[smpp]
host = "127.0.0.1"
port = 2775
system_id = "pingjing"
password_file = "{out}/smpp.secret"
source_addr = "10690000"

[ami]
port = 5038
username = "pingjing"
secret_file = "{out}/ami.secret"
dial_template = "PJSIP/{{number}}@carrier"

[amqp]
enabled = false

[survey]
signature = "【示例公安】"
# Each survey goes out from its own sub-number: replies match by the number they were sent to.
sub_number_prefix = "10690000"
sub_number_digits = 4

[ivr]
# Calls to the evaluation line served at once (citizens who call instead of replying). Time runs
# compressed, so calls hours apart in the simulation can overlap in real time.
inbound_lines = 8

[callbacks]
# Business time runs compressed in the demo; leases and grace periods are in simulated time.
claim_lease_seconds = 86400.0
result_grace_seconds = 3600.0
"""


def _serving_units(session: Any) -> list[Any]:
    import sqlalchemy as sa

    from gateway.demo.day import ServingUnit
    from storage.models import Officer, Unit

    officers: dict[int, list[str]] = {}
    for unit_id, number in session.execute(sa.select(Officer.unit_id, Officer.police_number)):
        officers.setdefault(unit_id, []).append(number)
    return [
        ServingUnit(u.code, u.kind, tuple(sorted(officers.get(u.id, []))))
        for u in session.scalars(sa.select(Unit).order_by(Unit.code))
    ]


def _opt_out(session: Any, numbers: list[str]) -> None:
    from storage.models import OptOut

    for number in numbers:
        session.merge(OptOut(phone=number, source="operator"))


async def run_loop(
    reactor: Any,
    config: Path,
    *,
    events: int,
    seed: int,
    speed: float,
    say: Callable[[str], None],
    max_real_seconds: float = 120.0,
) -> DemoRun:
    from twisted.internet import defer
    from twisted.internet.task import LoopingCall

    from gateway.app import make_api_site, make_service
    from gateway.config import load_settings
    from gateway.demo.day import plan_day
    from gateway.simulate.callees import SeededCallees
    from gateway.simulate.callers import SeededCallers
    from gateway.simulate.citizens import SeededCitizens
    from gateway.simulate.clock import ScaledClock
    from gateway.simulate.pbx import PbxSettings, PbxSimulator
    from gateway.simulate.smsc import SmscSettings, SmscSimulator
    from storage import reports

    out = config.parent
    today = datetime.now(ZONE).date()
    day = today - timedelta(days=2)
    start = datetime.combine(day, time(6, 0), ZONE)
    horizon = start + timedelta(hours=40)  # the next evening: the last calling window closes
    clock = ScaledClock(reactor, speed, start=start.timestamp())

    smpp_password = (out / "smpp.secret").read_text().strip()
    ami_secret = (out / "ami.secret").read_text().strip()
    smsc = SmscSimulator(
        clock,
        SmscSettings(accounts={SMPP_SYSTEM_ID: smpp_password}, seed=seed),
        SeededCitizens(seed=seed, weights=dict(CITIZEN_INTENTS)),
        wire_clock=reactor,
    )
    agi = shutil.which("pingjing-agi", path=str(Path(sys.executable).parent)) or "pingjing-agi"
    pbx = PbxSimulator(
        clock,
        PbxSettings(
            secret=ami_secret,
            agi_command=(agi, str(config)),
            agi_env={"PINGJING_CONFIG": str(config)},
            sounds_dir=str(out),
            seed=seed,
        ),
        SeededCallees(seed=seed),
        reactor,
        wire_clock=reactor,
    )
    # A few citizens call the evaluation line instead of replying (电话评警).
    callers = SeededCallers(seed=seed)

    def maybe_call(sms: Any) -> None:
        reaction = sms.reaction
        if reaction is None or not reaction.delivered:
            return
        planned = callers.decide(sms.destination_addr, sms.text, reaction.reply is not None)
        if planned is not None:
            clock.callLater(
                planned.delay,
                pbx.incoming_call,
                planned.number,
                planned.script,
                callingpres=planned.callingpres,
            )

    smsc.on_received.append(maybe_call)
    for planned in callers.complaints(1, within=12 * 3600.0):
        clock.callLater(
            (start - datetime.fromtimestamp(clock.seconds(), ZONE)).total_seconds()
            + 3 * 3600.0
            + planned.delay,
            pbx.incoming_call,
            planned.number,
            planned.script,
            callingpres=planned.callingpres,
        )
    smsc_port = reactor.listenTCP(0, smsc.factory(), interface="127.0.0.1")
    pbx_port = reactor.listenTCP(0, pbx.factory(), interface="127.0.0.1")
    env = {
        "PINGJING_SMPP_PORT": str(smsc_port.getHost().port),
        "PINGJING_AMI_PORT": str(pbx_port.getHost().port),
        "PINGJING_HTTP_ENABLED": "false",
    }
    settings = load_settings(config, env=env)
    app = make_service(settings, reactor=reactor, clock=clock)
    http_port = reactor.listenTCP(0, make_api_site(app, settings), interface="127.0.0.1")
    say(
        f"  SMSC simulator on 127.0.0.1:{smsc_port.getHost().port}, PBX simulator (AMI) on "
        f"127.0.0.1:{pbx_port.getHost().port}, HTTP API on 127.0.0.1:{http_port.getHost().port}"
    )
    say(
        f"  simulated time runs {speed:,.0f}x faster than real time (1 simulated hour = "
        f"{3600 / speed:.1f} s); SMPP, AMI, AGI and HTTP run in real time"
    )

    units = app.db.run_sync(_serving_units)
    plan = plan_day(day, units, events, seed, ZONE)
    app.db.run_sync(_opt_out, plan.opted_out)
    say(
        f"  {len(plan.events)} events will arrive over {day:%Y-%m-%d} (simulated), "
        f"{len(plan.opted_out)} citizens had opted out before"
    )
    say("")

    token = settings.http.tokens[0].token
    feed = Feed()
    posts: list[defer.Deferred[Any]] = []
    url = f"http://127.0.0.1:{http_port.getHost().port}/api/v1/events".encode()

    def post(body: dict[str, Any]) -> None:
        d = _post_event(reactor, url, token, body, feed)
        posts.append(d)

    began = reactor.seconds()
    app.startService()
    for planned in plan.events:
        clock.callLater(planned.send_at.timestamp() - clock.seconds(), post, planned.body)
    feed.sent = len(plan.events)

    done = defer.Deferred()
    state = {"finished": False, "last_activity": clock.seconds(), "last_line": ""}

    def now_local() -> datetime:
        return datetime.fromtimestamp(clock.seconds(), ZONE)

    @defer.inlineCallbacks
    def progress() -> Any:
        figures = yield app.db.run(reports.overview)
        posted = sum(1 for d in posts if d.called)
        open_callbacks = figures.callbacks["pending"] + figures.callbacks["in_progress"]
        figures_line = (
            f"events {posted}/{feed.sent}  SMS sent {figures.surveys_sent}  "
            f"delivered {figures.surveys_delivered}  "
            f"replies {figures.replies}  callbacks {sum(figures.callbacks.values())} "
            f"({open_callbacks} open)  calls {len(pbx.calls)}"
        )
        if figures_line != state["last_line"]:
            state["last_line"] = figures_line
            state["last_activity"] = clock.seconds()
            say(f"  [{now_local():%m-%d %H:%M}] {figures_line}")
        all_posted = posted == feed.sent
        waiting = figures.survey_status["pending"] + sum(
            figures.sms_by_kind.get("survey", {}).get(s, 0) for s in ("queued", "submitting")
        )
        # Citizens answer within about half an hour of the SMS; after two quiet simulated hours
        # with nothing scheduled and no callback open, the day is done.
        quiet = clock.seconds() - state["last_activity"] > 2 * 3600
        finished = all_posted and not waiting and not open_callbacks and quiet
        too_long = now_local() > horizon or reactor.seconds() - began > max_real_seconds
        if (finished or too_long) and not done.called:
            state["finished"] = finished
            done.callback(None)

    ticker = LoopingCall(progress)
    ticker.clock = reactor
    ticker.start(0.5, now=False).addErrback(lambda f: done.called or done.errback(f))
    try:
        await done
    finally:
        if ticker.running:
            ticker.stop()
        await defer.DeferredList(posts)
        smsc_stats = smsc.stats()
        calls = len(pbx.calls)
        pbx.stop()
        smsc.stop()
        await app.stopService()
        await http_port.stopListening()
        await smsc_port.stopListening()
        await pbx_port.stopListening()
    return DemoRun(
        out=out,
        config=config,
        day=day,
        feed=feed,
        simulated_end=now_local(),
        real_seconds=reactor.seconds() - began,
        finished=state["finished"],
        smsc=smsc_stats,
        calls=calls,
    )


def _post_event(reactor: Any, url: bytes, token: str, body: dict[str, Any], feed: Feed) -> Any:
    from twisted.web.client import Agent, FileBodyProducer
    from twisted.web.http_headers import Headers

    agent = Agent(reactor)
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = Headers(
        {b"authorization": [f"Bearer {token}".encode()], b"content-type": [b"application/json"]}
    )
    d = agent.request(b"POST", url, headers, FileBodyProducer(BytesIO(payload)))

    def answered(response: Any) -> Any:
        return _read_body(response).addCallback(lambda raw: (response.code, json.loads(raw)))

    def count(result: tuple[int, dict[str, Any]]) -> None:
        code, answer = result
        if code == 202:
            for item in answer["results"]:
                if item["status"] == "duplicate":
                    feed.duplicate += 1
                else:
                    feed.accepted += 1
            return
        for item in answer.get("items", [{"errors": [{"reason": answer.get("error")}]}]):
            reasons = "; ".join(
                f"{e.get('field', '')}: {e['reason']}".lstrip(": ") for e in item["errors"]
            )
            feed.rejected.append((str(item.get("event_id") or body.get("event_id")), reasons))

    return d.addCallback(answered).addCallback(count)


def _read_body(response: Any) -> Any:
    """The whole body of a small response (``readBody`` warns about Agent's own transports)."""
    from twisted.internet import defer, protocol
    from twisted.web.client import ResponseDone
    from twisted.web.http import PotentialDataLoss

    done: defer.Deferred[bytes] = defer.Deferred()
    chunks: list[bytes] = []

    class Collect(protocol.Protocol):
        def dataReceived(self, data: bytes) -> None:
            chunks.append(data)

        def connectionLost(self, reason: Any = None) -> None:
            if reason is None or reason.check(ResponseDone, PotentialDataLoss):
                done.callback(b"".join(chunks))
            else:
                done.errback(reason)

    response.deliverBody(Collect())
    return done


def run_demo(
    out: Path, *, events: int, seed: int, speed: float = 3600.0, serve: bool = False
) -> int:
    from twisted.internet import defer, task

    from gateway.demo.summary import print_summary

    def say(text: str = "") -> None:
        print(text, flush=True)

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    say(f"pingjing demo: the whole loop on this machine; everything goes to {out}/")
    config = prepare(out, say)
    result: list[DemoRun] = []

    async def main(reactor: Any) -> None:
        result.append(
            await run_loop(reactor, config, events=events, seed=seed, speed=speed, say=say)
        )
        if serve:
            from gateway.demo.serve import serve_console

            print_summary(result[0], say)
            await serve_console(reactor, config, say)

    os.environ.setdefault("PINGJING_CONFIG", str(config))
    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit as exit_:
        if exit_.code not in (0, None) or not result:
            return int(exit_.code or 1)
    if not serve:
        print_summary(result[0], say)
        from gateway.demo.reports import print_reports

        print_reports(result[0], say)
    return 0 if result[0].finished else 1
