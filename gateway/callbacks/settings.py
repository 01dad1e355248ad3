"""Callback settings with the defaults issue 5 sets; the lead maps the TOML section onto them.

Plain TOML-friendly types (strings, numbers, lists, tables), like the other sections, with
properties giving the values the code uses. Validated once, at construction, so a bad calling
window or a share outside 0..1 stops the daemon at start-up with a message naming the key,
instead of surfacing at 09:00 the next day.

Example::

    [callbacks]
    default_windows = ["09:00-12:00", "14:00-20:00"]
    windows = { sat = ["10:00-12:00"], sun = [] }   # per weekday; [] = no calls that day
    max_concurrent = 4
    retry_delays_minutes = [30, 120]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: A calling window: start inclusive, end exclusive, local wall-clock time.
Window = tuple[time, time]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WINDOWS = ["09:00-12:00", "14:00-20:00"]


def parse_window(text: str) -> Window:
    """``"09:00-12:00"`` → (09:00, 12:00); raises ValueError saying what is wrong."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    try:
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM") from None


@dataclass(frozen=True)
class CallbackSettings:
    """When and how often citizens are phoned back.

    ``windows`` maps a weekday (``mon`` .. ``sun``) to that day's calling windows in
    ``timezone``; a day not listed uses ``default_windows``, a day listed with ``[]`` has no
    calls. ``retry_delays_minutes[i]`` is the wait after attempt ``i + 1``; the last delay
    repeats when ``max_attempts`` exceeds the list. ``claim_lease_seconds`` bounds how long a
    claimed task may stay ``in_progress`` before another process treats its owner as crashed: it
    must outlast the longest call (ringing plus the AMI ``call_max_seconds``).
    ``result_grace_seconds`` is how long an answered call that has hung up may wait for its IVR
    result (the spool file) before the attempt counts as failed. ``worker`` names this process
    in its claims (empty: the host name); two schedulers on one host need distinct names.
    """

    default_windows: list[str] = field(default_factory=lambda: list(DEFAULT_WINDOWS))
    windows: dict[str, list[str]] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"
    max_concurrent: int = 4
    max_attempts: int = 3
    retry_delays_minutes: list[float] = field(default_factory=lambda: [30.0, 120.0])
    first_attempt_within_hours: float = 24.0
    non_response_share: float = 0.0
    poll_interval_seconds: float = 60.0
    spool_interval_seconds: float = 60.0
    claim_lease_seconds: float = 1200.0
    result_grace_seconds: float = 300.0
    not_connected_backoff_seconds: float = 60.0
    worker: str = ""
    _by_weekday: tuple[tuple[Window, ...], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> CallbackSettings:
        """Check every key; one error lists all problems, each naming its key."""
        problems: list[str] = []
        by_weekday: list[tuple[Window, ...]] = []
        for day in self.windows:
            if day not in WEEKDAYS:
                problems.append(f"windows.{day}: not a weekday (use {', '.join(WEEKDAYS)})")
        for day in WEEKDAYS:
            key = f"windows.{day}" if day in self.windows else "default_windows"
            texts = self.windows.get(day, self.default_windows)
            parsed: list[Window] = []
            for text in texts:
                try:
                    parsed.append(parse_window(text))
                except ValueError as exc:
                    problems.append(f"{key}: {exc}")
            for start, end in parsed:
                if not start < end:
                    problems.append(f"{key}: {start:%H:%M}-{end:%H:%M} must start before it ends")
            parsed.sort()
            for (_, end), (start, _) in pairwise(parsed):
                if start < end:
                    problems.append(f"{key}: windows overlap at {start:%H:%M}")
            by_weekday.append(tuple(parsed))
        if not problems and not any(by_weekday):
            problems.append("windows: no calling window on any day, no callback would ever start")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {self.timezone!r} is unknown")
        if self.max_concurrent < 1:
            problems.append(f"max_concurrent={self.max_concurrent} (must be at least 1)")
        if self.max_attempts < 1:
            problems.append(f"max_attempts={self.max_attempts} (must be at least 1)")
        if self.max_attempts > 1 and not self.retry_delays_minutes:
            problems.append("retry_delays_minutes is empty but max_attempts allows retries")
        for i, delay in enumerate(self.retry_delays_minutes):
            if delay <= 0:
                problems.append(f"retry_delays_minutes[{i}]={delay} (must be positive)")
        if not 0.0 <= self.non_response_share <= 1.0:
            problems.append(f"non_response_share={self.non_response_share} (must be 0..1)")
        for key in (
            "first_attempt_within_hours",
            "poll_interval_seconds",
            "spool_interval_seconds",
            "claim_lease_seconds",
            "result_grace_seconds",
            "not_connected_backoff_seconds",
        ):
            if getattr(self, key) <= 0:
                problems.append(f"{key}={getattr(self, key)} (must be positive)")
        if problems:
            raise ValueError("callbacks: " + "; ".join(problems))
        object.__setattr__(self, "_by_weekday", tuple(by_weekday))
        return self

    # -- derived values ------------------------------------------------------------------------

    def windows_for(self, weekday: int) -> tuple[Window, ...]:
        """The calling windows of ``datetime.weekday()`` (0 = Monday), sorted."""
        return self._by_weekday[weekday]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def retry_delay(self, attempts_made: int) -> timedelta:
        """The wait after the ``attempts_made``-th attempt (1-based)."""
        index = min(max(attempts_made, 1) - 1, len(self.retry_delays_minutes) - 1)
        return timedelta(minutes=self.retry_delays_minutes[index])

    @property
    def first_attempt_within(self) -> timedelta:
        return timedelta(hours=self.first_attempt_within_hours)

    @property
    def poll_interval(self) -> timedelta:
        return timedelta(seconds=self.poll_interval_seconds)

    @property
    def spool_interval(self) -> timedelta:
        return timedelta(seconds=self.spool_interval_seconds)

    @property
    def claim_lease(self) -> timedelta:
        return timedelta(seconds=self.claim_lease_seconds)

    @property
    def result_grace(self) -> timedelta:
        return timedelta(seconds=self.result_grace_seconds)

    @property
    def not_connected_backoff(self) -> timedelta:
        return timedelta(seconds=self.not_connected_backoff_seconds)
