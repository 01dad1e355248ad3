"""The twistd entry point: options and makeService for ``twistd pingjing``."""

from __future__ import annotations

import os
import sys

from twisted.application.service import IService
from twisted.python import usage


class Options(usage.Options):
    optParameters = [
        ["config", "c", os.environ.get("PINGJING_CONFIG"), "configuration file (TOML)"],
    ]


def makeService(options: Options) -> IService:
    from gateway.app import make_service
    from gateway.config import load_settings
    from gateway.configload import ConfigError

    try:
        settings = load_settings(options["config"])
    except ConfigError as exc:
        # twistd would print a traceback; an operator needs the one line that says what is wrong.
        print(f"pingjing: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(78) from None
    from gateway.logs import configure
    from gateway.runtime import tune_gc

    configure(settings.service.log_level, settings.secret_values())
    service = make_service(settings)
    tune_gc()
    return service
