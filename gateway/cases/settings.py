"""``[cases]``: deadlines, assignment by vertical management, evidence limits, outcome SMS.

Example::

    [cases]
    verify_days = 3          # working days to verify (核查) from opening
    rectify_days = 5         # working days to rectify (整改) from the finding, or a return
    review_days = 3          # working days to review (审核) from submission
    assign_level = "bureau"  # unit | bureau | map
    assign_map = { "530402501000" = "530402000000" }
    extra_holidays = ["2027-01-01"]
    extra_workdays = []
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ASSIGN_LEVELS = ("unit", "bureau", "map")
DEFAULT_EVIDENCE_TYPES = [
    "image/jpeg",
    "image/png",
    "application/pdf",
    "audio/wav",
    "audio/mpeg",
    "video/mp4",
    "text/plain",
]
DEFAULT_OUTCOME_TEMPLATE = (
    "【{sign}】您好，您于{date}反映的问题，经核查{verdict}，{action}。感谢您对公安工作的监督。"
)


@dataclass(frozen=True)
class CaseSettings:
    """How cases are assigned and timed.

    ``assign_level``: ``unit`` keeps the case with the event's unit; ``bureau`` hands it to
    the sub-bureau, county bureau or city department above it (vertical management: each
    handles its own units' items; a unit directly under the city bureau keeps its own);
    ``map`` uses ``assign_map`` (unit code -> handling unit code, an ancestor's entry
    applying to the units below it) and falls back to ``bureau``.
    """

    verify_days: int = 3
    rectify_days: int = 5
    review_days: int = 3
    assign_level: str = "bureau"
    assign_map: dict[str, str] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"
    extra_holidays: list[str] = field(default_factory=list)
    extra_workdays: list[str] = field(default_factory=list)
    evidence_max_bytes: int = 20 * 1024 * 1024
    evidence_types: list[str] = field(default_factory=lambda: list(DEFAULT_EVIDENCE_TYPES))
    #: The period substantiated cases are counted over for the ladder: ``year`` (calendar
    #: year) or a number of days ending today.
    ladder_period: str = "year"
    #: A callback task left unreachable this many days is marked so (manual list).
    unreachable_after_days: int = 7
    outcome_sms: bool = True
    outcome_sign: str = "市公安局"
    outcome_template: str = DEFAULT_OUTCOME_TEMPLATE
    outcome_hours: list[str] = field(default_factory=lambda: ["09:00-20:00"])

    def __post_init__(self) -> None:
        problems: list[str] = []
        for key in ("verify_days", "rectify_days", "review_days"):
            if not 0 < getattr(self, key) <= 60:
                problems.append(f"{key}: must be 1..60 working days")
        if self.assign_level not in ASSIGN_LEVELS:
            problems.append(f"assign_level: {self.assign_level!r} is not one of {ASSIGN_LEVELS}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone: {self.timezone!r} is not a known time zone")
        for key in ("extra_holidays", "extra_workdays"):
            for text in getattr(self, key):
                try:
                    date.fromisoformat(text)
                except ValueError:
                    problems.append(f"{key}: {text!r} is not YYYY-MM-DD")
        if self.ladder_period != "year" and not (
            self.ladder_period.isdigit() and int(self.ladder_period) > 0
        ):
            problems.append("ladder_period: 'year' or a number of days")
        if self.evidence_max_bytes <= 0:
            problems.append("evidence_max_bytes: must be positive")
        try:
            _ = self.outcome_window
        except ValueError as exc:
            problems.append(f"outcome_hours: {exc}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def holidays(self) -> list[date]:
        return [date.fromisoformat(t) for t in self.extra_holidays]

    @property
    def workdays(self) -> list[date]:
        return [date.fromisoformat(t) for t in self.extra_workdays]

    @property
    def outcome_window(self) -> list[tuple[time, time]]:
        out = []
        for text in self.outcome_hours:
            start, sep, end = text.partition("-")
            if not sep:
                raise ValueError(f"{text!r} is not HH:MM-HH:MM")
            out.append((time.fromisoformat(start.strip()), time.fromisoformat(end.strip())))
        return out

    def calendar(self):  # -> gateway.cases.calendar.WorkCalendar
        from gateway.cases.calendar import WorkCalendar

        return WorkCalendar(self.holidays, self.workdays)
