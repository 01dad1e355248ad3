"""``pingjing simulate smsc`` and ``pingjing simulate pbx``: a carrier and a PBX on your machine.

Both run until interrupted (Ctrl-C), print what happened when they stop, and can write a JSON
lines journal for checks. Passwords may come from the environment so they stay out of ``ps``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from typing import Any, TextIO

DEFAULT_SMSC_LISTEN = "tcp:port=2775:interface=127.0.0.1"
DEFAULT_AMI_LISTEN = "tcp:port=5038:interface=127.0.0.1"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run an SMSC or an Asterisk simulator for trying pingjing without a carrier or PBX",
        description="Simulators that speak the real protocols (SMPP 3.4, AMI, AGI) over TCP. "
        "See docs/simulators.md.",
    )
    sub = parser.add_subparsers(dest="simulator", metavar="SIMULATOR")

    smsc = sub.add_parser(
        "smsc",
        help="an SMPP 3.4 SMSC whose simulated citizens receive surveys and reply",
        description="Accepts binds and submit_sm, sends delivery receipts and citizens' replies.",
    )
    smsc.add_argument("--listen", default=DEFAULT_SMSC_LISTEN, help="Twisted server endpoint")
    smsc.add_argument(
        "--system-id", default="pingjing", help="account system_id (default: %(default)s)"
    )
    smsc.add_argument(
        "--password",
        default=os.environ.get("PINGJING_SIM_SMPP_PASSWORD", "secret"),
        help="account password, at most 8 characters ($PINGJING_SIM_SMPP_PASSWORD)",
    )
    smsc.add_argument(
        "--message-id-style",
        default="decimal",
        choices=("decimal", "hex", "hex_resp_decimal_receipt"),
        help="message id format in submit_sm_resp / receipts",
    )
    smsc.add_argument("--reply-rate", type=float, default=0.25, help="share of surveys answered")
    smsc.add_argument(
        "--undeliverable-rate", type=float, default=0.03, help="share of unreachable numbers"
    )
    smsc.add_argument(
        "--max-submits-per-second",
        type=float,
        default=0.0,
        help="per-connection cap; more get ESME_RTHROTTLED (default: no cap)",
    )
    _common(smsc)
    smsc.set_defaults(func=run_smsc)

    pbx = sub.add_parser(
        "pbx",
        help="an Asterisk stand-in: AMI Originate, and the AGI script run for answered calls",
        description="Answers AMI Originate like Asterisk 22 and runs the AGI program as a "
        "subprocess for answered calls, with simulated callees pressing keys and talking.",
    )
    pbx.add_argument("--ami-listen", default=DEFAULT_AMI_LISTEN, help="Twisted server endpoint")
    pbx.add_argument("--username", default="pingjing", help="AMI username (default: %(default)s)")
    pbx.add_argument(
        "--secret",
        default=os.environ.get("PINGJING_SIM_AMI_SECRET", "secret"),
        help="AMI secret ($PINGJING_SIM_AMI_SECRET)",
    )
    pbx.add_argument(
        "--agi",
        default="pingjing-agi",
        help="AGI command line run for answered calls, as AGI(...) would (default: %(default)s)",
    )
    pbx.add_argument(
        "--sounds-dir",
        default=".",
        help="where relative RECORD FILE paths are written (Asterisk's sounds directory)",
    )
    pbx.add_argument(
        "--agi-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the AGI program (repeatable), e.g. PINGJING_CONFIG=...",
    )
    pbx.add_argument(
        "--sighup-delay",
        type=float,
        default=1.4,
        help="simulated seconds between a callee's hangup and SIGHUP to the script",
    )
    _common(pbx)
    pbx.set_defaults(func=run_pbx)
    history = sub.add_parser(
        "history",
        help="the seed's 2017-05-01 .. 2018-07-10 through the pipeline, into the database",
        description="Service events every day through intake, the survey pipeline and the "
        "callback store, with loopback SMS and telephone: at --scale 1 the seed's totals "
        "exactly. Then `pingjing report period --from 2017-05-01 --to 2018-07-10`.",
    )
    from gateway.commands.common import add_config_option

    add_config_option(history)
    history.add_argument("--scale", type=float, default=1.0, help="share of the seed's counts")
    history.add_argument("--seed", type=int, default=1, help="seed of the units' draw")
    history.set_defaults(func=run_history_command)
    parser.set_defaults(func=lambda args: _no_simulator(parser))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", default="1", help="seed of the simulated people (same seed, same story)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="run simulated delays this many times faster than real time (default: %(default)s)",
    )
    parser.add_argument("--journal", metavar="FILE", help="append one JSON line per event here")


def run_history_command(args: argparse.Namespace) -> int:
    from twisted.internet import defer, task

    from gateway.commands.common import open_database, settings_from
    from gateway.simulate.history_run import run_history
    from storage import models as m

    settings = settings_from(args)
    db = open_database(settings)
    if not db.run_sync(lambda s: s.query(m.Unit).count()):
        from pathlib import Path

        from storage.units import import_file

        conf = Path(__file__).resolve().parents[2] / "conf"
        for name in ("units.csv", "officers.csv"):
            print(db.run_sync(import_file, (conf / name).read_text("utf-8"), name).summary())
    began = time.monotonic()
    outcome: list[Any] = []

    async def main(reactor: Any) -> None:
        db.start()
        try:
            outcome.append(
                await run_history(
                    db,
                    scale=args.scale,
                    seed=args.seed,
                    survey=settings.survey,
                    callbacks=settings.callbacks,
                    cases=settings.cases,
                )
            )
        finally:
            db.stop()

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit as exc:  # react() ends the process's reactor with sys.exit
        if exc.code:
            return int(exc.code)
    run = outcome[0]
    print(
        f"history: {run.days} days, {run.events:,} events, {run.surveys_sent:,} survey SMS, "
        f"{run.replies_sent:,} replies, {run.callbacks_completed:,} callbacks completed, "
        f"{run.cases_worked:,} cases worked ({run.cases_substantiated:,} substantiated), "
        f"{len(run.rejected)} events rejected, in {time.monotonic() - began:.0f} s"
    )
    return 0


def _no_simulator(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _seed(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


class Journal:
    """JSON lines for checks; the file is the integrator's, so numbers appear unmasked."""

    def __init__(self, path: str | None) -> None:
        self._out: TextIO | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        if self._out is not None:
            self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def _start_logging() -> None:
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)


def run_smsc(args: argparse.Namespace) -> int:
    from twisted.internet import endpoints, reactor

    from gateway.simulate.citizens import SeededCitizens
    from gateway.simulate.clock import ScaledClock
    from gateway.simulate.smsc import SmscSettings, SmscSimulator

    try:
        settings = SmscSettings(
            accounts={args.system_id: args.password},
            message_id_style=args.message_id_style,
            max_submits_per_second=args.max_submits_per_second,
            seed=_seed(args.seed),
            # ids unique across restarts, so receipts never match a message of an earlier run
            id_base=int(time.time() * 10) % 10**10,
        )
        citizens = SeededCitizens(
            seed=settings.seed,
            reply_rate=args.reply_rate,
            undeliverable_rate=args.undeliverable_rate,
        )
        clock = ScaledClock(reactor, args.speed)
    except ValueError as exc:
        print(f"pingjing simulate smsc: {exc}", file=sys.stderr)
        return 2
    _start_logging()
    journal = Journal(args.journal)
    sim = SmscSimulator(clock, settings, citizens, wire_clock=reactor)
    sim.on_received.append(
        lambda sms: journal.write(
            {
                "event": "sms",
                "at": sms.received_at,
                "from": sms.source_addr,
                "to": sms.destination_addr,
                "text": sms.text,
                "parts": sms.parts,
                "message_ids": sms.message_ids,
                "delivered": bool(sms.reaction and sms.reaction.delivered),
                "reply": (
                    {
                        "text": sms.reaction.reply.text,
                        "intent": sms.reaction.reply.intent,
                        "delay": sms.reaction.reply.delay,
                    }
                    if sms.reaction and sms.reaction.reply
                    else None
                ),
            }
        )
    )
    return _serve(
        reactor, endpoints.serverFromString(reactor, args.listen), sim, "SMSC", args, journal
    )


def run_pbx(args: argparse.Namespace) -> int:
    from twisted.internet import endpoints, reactor

    from gateway.simulate.callees import SeededCallees
    from gateway.simulate.clock import ScaledClock
    from gateway.simulate.pbx import PbxSettings, PbxSimulator

    agi_env: dict[str, str] = {}
    for item in args.agi_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"pingjing simulate pbx: --agi-env {item!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        agi_env[name] = value
    try:
        settings = PbxSettings(
            username=args.username,
            secret=args.secret,
            agi_command=tuple(shlex.split(args.agi)),
            agi_env=agi_env,
            sounds_dir=args.sounds_dir,
            sighup_delay=args.sighup_delay,
            seed=_seed(args.seed),
        )
        clock = ScaledClock(reactor, args.speed)
    except ValueError as exc:
        print(f"pingjing simulate pbx: {exc}", file=sys.stderr)
        return 2
    _start_logging()
    journal = Journal(args.journal)
    sim = PbxSimulator(
        clock, settings, SeededCallees(seed=settings.seed), reactor, wire_clock=reactor
    )
    if sim.resolve_command() is None:
        print(
            f"pingjing simulate pbx: warning: AGI program {settings.agi_command[0]!r} not found; "
            "answered calls will hang up at once",
            file=sys.stderr,
        )

    def call_ended(call: Any) -> None:
        journal.write(
            {
                "event": "call",
                "at": clock.seconds(),
                "channel_id": call.channel_id,
                "number": call.number,
                "attempt": call.attempt,
                "result": call.result,
                "variables": call.variables,
                "keys": call.agi.keys_taken if call.agi else [],
                "recordings": [r.path for r in call.agi.recordings] if call.agi else [],
                "hung_up_by": call.agi.hung_up_by if call.agi else None,
                "agi_exit_code": call.agi_exit_code,
                "started_at": call.started_at,
                "ended_at": call.ended_at,
            }
        )

    sim.on_call_ended.append(call_ended)
    return _serve(
        reactor, endpoints.serverFromString(reactor, args.ami_listen), sim, "PBX", args, journal
    )


def _serve(reactor: Any, endpoint: Any, sim: Any, what: str, args: Any, journal: Journal) -> int:
    failed: list[str] = []

    def listening(port: Any) -> None:
        host = port.getHost()
        print(
            f"pingjing {what} simulator listening on {host.host}:{host.port} "
            f"(seed {args.seed}, time x{args.speed:g}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )

    def cannot_listen(failure: Any) -> None:
        failed.append(failure.getErrorMessage())
        reactor.stop()

    reactor.callWhenRunning(
        lambda: endpoint.listen(sim.factory()).addCallbacks(listening, cannot_listen)
    )
    reactor.addSystemEventTrigger("before", "shutdown", sim.stop)
    reactor.run()
    journal.close()
    if failed:
        print(f"pingjing simulate: cannot listen: {failed[0]}", file=sys.stderr)
        return 1
    print(json.dumps(sim.stats(), ensure_ascii=False, indent=2))
    return 0
