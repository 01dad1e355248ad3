"""Logging set-up: twisted.logger everywhere, one text line per event, level-filtered."""

from __future__ import annotations

import sys
from typing import TextIO

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

_LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn}
_LEVELS["error"] = LogLevel.error


def start_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send log events at ``level`` and above to ``stream`` (standard error by default)."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=_LEVELS.get(level, LogLevel.info))
    observer = FilteringLogObserver(textFileLogObserver(stream or sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
