"""Logging set-up: twisted.logger everywhere, one text line per event, level-filtered, scrubbed.

Every event passes through :class:`ScrubbingObserver` before it is written: its text (and the
traceback of a failure, which may quote a connection URL or a citizen's number) goes through
:func:`gateway.masking.scrub`, so no configured secret, URL password or whole mobile number
reaches the log whatever a library put in its message. ``ClientService``'s own "Scheduling
retry N" line, written on every reconnect attempt, is kept for ``debug``: each link logs its
state changes itself (:mod:`gateway.linkstate`).

``pingjing run`` calls :func:`start_logging`; under ``twistd`` pass
``--logger gateway.logs.observer`` for the same treatment.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    PredicateResult,
    eventAsText,
    globalLogBeginner,
    textFileLogObserver,
)
from zope.interface import implementer

from gateway.masking import scrub

_LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn}
_LEVELS["error"] = LogLevel.error

#: Secrets the process knows of (set from the configuration at start-up), for observers
#: built before or without the settings (``twistd --logger``).
KNOWN_SECRETS: set[str] = set()
_configured = {"level": "info"}

_RETRY_NOISE = "Scheduling retry {attempt} to connect {endpoint}"


def scrubbed_text(event: dict[str, Any], secrets: Iterable[str] = ()) -> str:
    """The event's message and traceback as they may be written: secrets and phones hidden."""
    text = eventAsText(event, includeTraceback=True, includeTimestamp=False, includeSystem=False)
    return scrub(text, secrets)


@implementer(ILogObserver)
class ScrubbingObserver:
    """Hands ``observer`` a copy of each event whose only text is the scrubbed one."""

    def __init__(self, observer: ILogObserver, secrets: Iterable[str] | None = None) -> None:
        self._observer = observer
        self._secrets = KNOWN_SECRETS if secrets is None else set(secrets)

    def __call__(self, event: dict[str, Any]) -> None:
        clean = {
            key: event[key]
            for key in ("log_time", "log_level", "log_namespace", "log_system", "log_logger")
            if key in event
        }
        clean["log_format"] = "{log_text}"
        clean["log_text"] = scrubbed_text(event, self._secrets)
        self._observer(clean)


def retry_noise(event: dict[str, Any]) -> PredicateResult:
    """``ClientService``'s per-attempt line is debug detail, whatever level it was logged at."""
    fmt = event.get("log_format") or ""
    if fmt.startswith(_RETRY_NOISE) and event.get("log_level") is not LogLevel.debug:
        return PredicateResult.no
    return PredicateResult.maybe


def build_observer(
    level: str = "info", stream: TextIO | None = None, secrets: Iterable[str] | None = None
) -> ILogObserver:
    """Level filter, retry noise dropped below debug, then scrubbed text lines on ``stream``."""
    threshold = _LEVELS.get(level, LogLevel.info)
    predicates: list[Any] = [LogLevelFilterPredicate(defaultLogLevel=threshold)]
    if threshold > LogLevel.debug:
        predicates.insert(0, retry_noise)
    writer = ScrubbingObserver(textFileLogObserver(stream or sys.stderr), secrets)
    return FilteringLogObserver(writer, predicates)


def configure(level: str, secrets: Iterable[str]) -> None:
    """Remember the configured level and secrets for the observers built from now on."""
    _configured["level"] = level
    KNOWN_SECRETS.update(secrets)


def start_logging(
    level: str = "info", stream: TextIO | None = None, secrets: Iterable[str] = ()
) -> None:
    """Send log events at ``level`` and above to ``stream`` (standard error by default)."""
    configure(level, secrets)
    globalLogBeginner.beginLoggingTo([build_observer(level, stream)], redirectStandardIO=False)


def observer() -> ILogObserver:
    """``twistd --logger gateway.logs.observer``: the same lines on standard output, at the
    level and with the secrets of the configuration ``makeService`` loaded."""
    return build_observer(_configured["level"], sys.stdout)
