"""``pingjing run``: the daemon in the foreground, as ``twistd -n pingjing`` would run it."""

from __future__ import annotations

import argparse

from gateway.commands.common import add_config_option, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the daemon in the foreground")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor

    from gateway.app import make_service
    from gateway.logs import start_logging
    from gateway.runtime import tune_gc

    settings = settings_from(args)
    start_logging(settings.service.log_level, secrets=settings.secret_values())
    service = make_service(settings)
    tune_gc()
    reactor.callWhenRunning(service.startService)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 0
