"""The ``pingjing`` command: one entry point, one module per command group."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gateway.configload import ConfigError

#: Command modules under gateway.commands, each with ``register(subparsers)``. A command's
#: handler is stored as ``func`` on its parser and returns the process exit code.
COMMAND_MODULES = (
    "run",
    "db",
    "config",
    "units",
    "users",
    "events",
    "replies",
    "sms",
    "export",
    "report",
    "prompts",
    "simulate",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pingjing",
        description="SMS evaluation and voice callback gateway (短信评警、语音回访).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"gateway.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command group not part of this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"pingjing: configuration error: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from storage.db import DatabaseUnreachableError

        if not isinstance(exc, DatabaseUnreachableError):
            raise
        print(f"pingjing: {exc}", file=sys.stderr)
        return 69  # EX_UNAVAILABLE
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
