"""``pingjing config``: show or check the effective configuration (secrets redacted)."""

from __future__ import annotations

import argparse
import json

from gateway.commands.common import add_config_option, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="show or check the effective configuration")
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the effective configuration, secrets redacted")
    add_config_option(show)
    show.set_defaults(func=show_config)
    check = sub.add_parser("check", help="validate the configuration and exit")
    add_config_option(check)
    check.set_defaults(func=check_config)


def show_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    print(json.dumps(settings.redacted(), ensure_ascii=False, indent=2, default=str))
    return 0


def check_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    print(f"{settings.source}: configuration is valid")
    return 0
