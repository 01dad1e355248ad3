"""Everything the daemon's code logs during a test session, kept for one test to scan.

``tests/conftest.py`` starts :data:`SCAN` when the session starts: a global log observer that
keeps the text of every event (with the traceback of a failure) as it was logged, before the
scrubbing observer of :mod:`gateway.logs` could hide anything, so what it finds is a source that
leaks; and it records the secrets of every configuration loaded (``Settings``).
``tests/test_log_scan.py`` runs last and fails on any whole mobile number or secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from twisted.logger import eventAsText, globalLogPublisher

from gateway.masking import MIN_SECRET_LENGTH

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
#: Log sources that are test fakes, not the daemon (they may print what they were sent).
NOT_THE_DAEMON = ("tests.",)


@dataclass
class LogScan:
    lines: list[tuple[str, str]] = field(default_factory=list)  # (namespace, text)
    secrets: set[str] = field(default_factory=set)
    started: bool = False

    def observe(self, event: dict[str, Any]) -> None:
        namespace = str(event.get("log_namespace", ""))
        if namespace.startswith(NOT_THE_DAEMON):
            return
        try:
            text = eventAsText(event, includeTraceback=True, includeTimestamp=False)
        except Exception as exc:  # an event that cannot be formatted is worth a look too
            text = f"(unformattable event {event.get('log_format')!r}: {exc!r})"
        self.lines.append((namespace, text))

    def start(self) -> None:
        if not self.started:
            globalLogPublisher.addObserver(self.observe)
            self.started = True

    def remember_secrets(self, values: set[str]) -> None:
        self.secrets |= {v for v in values if len(v) >= MIN_SECRET_LENGTH}

    def findings(self) -> list[str]:
        found = []
        for namespace, text in self.lines:
            if MOBILE.search(text):
                found.append(f"mobile number in [{namespace}]: {text[:300]}")
            for secret in self.secrets:
                if secret in text:
                    found.append(f"secret in [{namespace}]: {text[:300]}")
        return found


SCAN = LogScan()
