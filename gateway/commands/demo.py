"""``pingjing demo``: the whole loop on one machine, on the embedded default."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole loop locally: events, SMS, replies, callbacks, results"
    )
    parser.add_argument(
        "--out", default="demo-output", help="folder for the database and recordings"
    )
    parser.add_argument("--events", type=int, default=300, help="service events to feed")
    parser.add_argument("--seed", type=int, default=2017, help="seed for the simulated citizens")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="afterwards, serve the web console on the demo's data until Ctrl-C",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.demo.run import run_demo

    return run_demo(Path(args.out), events=args.events, seed=args.seed, serve=args.serve)
