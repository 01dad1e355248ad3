"""Callback settings with the defaults issue 5 sets; the lead maps the TOML section onto them.

Validated once, at construction, so a bad calling window or a share outside 0..1 stops the
daemon at start-up with a message naming the key instead of surfacing at 09:00 the next day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

#: A calling window: start inclusive, end exclusive, local wall-clock time.
Window = tuple[time, time]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_WINDOWS: tuple[Window, ...] = ((time(9, 0), time(12, 0)), (time(14, 0), time(20, 0)))


def _every_day(windows: tuple[Window, ...]) -> dict[int, tuple[Window, ...]]:
    return {day: windows for day in range(7)}


@dataclass(frozen=True)
class CallbackSettings:
    """When and how often citizens are phoned back.

    ``windows`` maps ``datetime.weekday()`` (0 = Monday) to that day's calling windows in
    ``zone``; a day missing from the map, or mapped to ``()``, has no calls at all.
    ``retry_delays[i]`` is the wait after attempt ``i + 1``; the last delay repeats when
    ``max_attempts`` exceeds the list. ``claim_lease`` bounds how long a claimed task may stay
    ``in_progress`` before another process treats its owner as crashed: it must outlast the
    longest call (ringing plus ``call_max_seconds`` of the AMI settings). ``result_grace`` is
    how long an answered call that has hung up may wait for the IVR result (the spool file) before
    the attempt is counted as failed.
    """

    windows: dict[int, tuple[Window, ...]] = field(
        default_factory=lambda: _every_day(DEFAULT_WINDOWS)
    )
    zone: ZoneInfo = SHANGHAI
    max_concurrent: int = 4
    max_attempts: int = 3
    retry_delays: tuple[timedelta, ...] = (timedelta(minutes=30), timedelta(hours=2))
    first_attempt_within: timedelta = timedelta(hours=24)
    non_response_share: float = 0.0
    poll_interval: timedelta = timedelta(seconds=60)
    spool_interval: timedelta = timedelta(seconds=60)
    claim_lease: timedelta = timedelta(minutes=20)
    result_grace: timedelta = timedelta(minutes=5)
    not_connected_backoff: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid [callbacks] settings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every invalid key with the reason, so one start-up error lists them all."""
        problems: list[str] = []
        for day, windows in self.windows.items():
            if day not in range(7):
                problems.append(f"windows: weekday {day!r} is not 0 (Monday) .. 6 (Sunday)")
                continue
            name = WEEKDAYS[day]
            ordered = sorted(windows)
            for start, end in ordered:
                if not start < end:
                    problems.append(
                        f"windows.{name}: {start:%H:%M}-{end:%H:%M} must start before it ends"
                    )
            for (_, end), (start, _) in pairwise(ordered):
                if start < end:
                    problems.append(f"windows.{name}: windows overlap at {start:%H:%M}")
        if self.max_concurrent < 1:
            problems.append(f"max_concurrent={self.max_concurrent} (must be at least 1)")
        if self.max_attempts < 1:
            problems.append(f"max_attempts={self.max_attempts} (must be at least 1)")
        if self.max_attempts > 1 and not self.retry_delays:
            problems.append("retry_delays is empty but max_attempts allows retries")
        for i, delay in enumerate(self.retry_delays):
            if delay <= timedelta(0):
                problems.append(f"retry_delays[{i}]={delay} (must be positive)")
        if self.first_attempt_within <= timedelta(0):
            problems.append(f"first_attempt_within={self.first_attempt_within} (must be positive)")
        if not 0.0 <= self.non_response_share <= 1.0:
            problems.append(f"non_response_share={self.non_response_share} (must be 0..1)")
        for key in ("poll_interval", "spool_interval", "claim_lease", "result_grace"):
            if getattr(self, key) <= timedelta(0):
                problems.append(f"{key}={getattr(self, key)} (must be positive)")
        if not any(self.windows.values()):
            problems.append("windows: no calling window on any day, no callback would ever start")
        return problems

    def windows_for(self, weekday: int) -> tuple[Window, ...]:
        return tuple(sorted(self.windows.get(weekday, ())))

    def retry_delay(self, attempts_made: int) -> timedelta:
        """The wait after the ``attempts_made``-th attempt (1-based)."""
        index = min(max(attempts_made, 1) - 1, len(self.retry_delays) - 1)
        return self.retry_delays[index]
