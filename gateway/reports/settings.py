"""The ``[reports]`` section: formula, ranking group, schedule and delivery.

Example::

    [reports]
    timezone = "Asia/Shanghai"
    formula = "seed"            # or "weighted": 满意 + basic_weight × 基本满意
    ranking_group = ""          # a unit code: rank its direct children; empty: the root's
    min_sample = 30
    daily_at = "08:00"          # local time; weekly on Monday, monthly on the 1st...
    wecom_webhook = ""          # WeCom group robot URL for the daily text
    smtp_endpoint = ""          # "host:port" for the other reports by e-mail
    mail_to = []
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.reports.consequences import PointsTable
from gateway.reports.figures import Formula


@dataclass(frozen=True)
class ReportSettings:
    timezone: str = "Asia/Shanghai"
    formula: str = "seed"
    basic_weight: float = 0.5
    ranking_group: str = ""
    min_sample: int = 30
    confidence: float = 0.95
    last_place_streak: int = 3
    streak_deduction: float = 2.0
    rank_points: list[float] = field(default_factory=lambda: [3.0, 2.0, 1.0])
    callback_bonus: float = 2.0
    #: whether the daemon produces and delivers the reports on schedule
    schedule: bool = True
    #: local times the scheduled reports are produced (weekly: Mondays; monthly: the 1st;
    #: quarterly: the 1st of Jan/Apr/Jul/Oct; annual: 1 January)
    daily_at: str = "08:00"
    weekly_at: str = "08:30"
    monthly_at: str = "09:00"
    #: at start-up, produce a run missed in the last this many hours (0: none)
    catch_up_hours: float = 0.0
    archive_dir: str = ""  # empty: <service.data_dir>/reports
    wecom_webhook: str = field(default="", repr=False, metadata={"secret": True})
    smtp_endpoint: str = ""
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False, metadata={"secret": True})
    mail_from: str = "pingjing@localhost"
    mail_to: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> ReportSettings:
        problems = []
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"reports.timezone: unknown time zone {self.timezone!r}")
        try:
            Formula.named(self.formula, self.basic_weight)
        except ValueError as e:
            problems.append(str(e))
        if self.min_sample < 0:
            problems.append("reports.min_sample: must not be negative")
        if not 0.5 <= self.confidence < 1.0:
            problems.append("reports.confidence: expected 0.5 <= confidence < 1")
        if self.last_place_streak < 2:
            problems.append("reports.last_place_streak: must be at least 2")
        for key in ("daily_at", "weekly_at", "monthly_at"):
            try:
                time.fromisoformat(getattr(self, key))
            except ValueError:
                problems.append(f"reports.{key}: expected HH:MM, not {getattr(self, key)!r}")
        if self.smtp_endpoint and ":" not in self.smtp_endpoint:
            problems.append("reports.smtp_endpoint: expected host:port")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def satisfaction(self) -> Formula:
        return Formula.named(self.formula, self.basic_weight)

    @property
    def points(self) -> PointsTable:
        return PointsTable(rank_points=tuple(self.rank_points), callback_bonus=self.callback_bonus)

    def at(self, kind: str) -> time:
        key = {"day": "daily_at", "week": "weekly_at"}.get(kind, "monthly_at")
        return time.fromisoformat(getattr(self, key))
