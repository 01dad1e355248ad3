"""Survey settings with the defaults issue 4 sets; the lead maps the TOML section onto them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HOW_TO_RATE = "回复1满意，2基本满意，3不满意，TD退订。评价码{code}"
DEFAULT_TEMPLATES: dict[str, str] = {
    "incident": "您{date}报警求助（{business}），请评价{unit}处警民警：" + _HOW_TO_RATE,
    "case": "您{date}在{unit}办理的{business}，请评价办案民警：" + _HOW_TO_RATE,
    "window": "您{date}在{unit}窗口的{business}服务，请评价窗口民警：" + _HOW_TO_RATE,
    "other": "您{date}在{unit}的{business}事项，请评价民警服务：" + _HOW_TO_RATE,
}
DEFAULT_REPLIES: dict[str, str] = {
    "satisfied": "感谢您的评价，我们将继续努力。",
    "basically_satisfied": "感谢您的评价，我们将不断改进工作。",
    "unsatisfied": "感谢您的评价，我们将尽快回访了解情况，请留意来电。",
    "opt_out_confirm": "您已退订评价短信，今后将不再向您发送评价短信或回访电话。",
    "clarify": "未能识别您的回复。请回复数字：1满意，2基本满意，3不满意。回复TD退订",
}


@dataclass(frozen=True)
class SurveySettings:
    """Who is surveyed, when, with which texts, and how replies are matched.

    Plain TOML-friendly types (the lead's loader maps the ``[survey]`` section onto them); the
    properties give the derived values the code uses.
    """

    #: Tags never surveyed by SMS.
    sensitive_tags: list[str] = field(
        default_factory=lambda: ["domestic_violence", "sexual_offence", "juvenile"]
    )
    recently_surveyed_days: int = 30
    too_old_days: int = 7
    #: A second report of the same phone, unit, category and business within this many hours.
    duplicate_window_hours: int = 24
    #: category → 0..1; a category not listed is surveyed at 100%.
    sampling_rates: dict[str, float] = field(default_factory=dict)
    delay_minutes: int = 30
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    timezone: str = "Asia/Shanghai"
    reply_window_hours: int = 72
    signature: str = "【某某公安】"
    templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    replies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REPLIES))
    #: Per-survey sub-numbers: replies to prefix + N digits are matched to the survey by address.
    #: Choose N so that 10**N exceeds the surveys sent within one reply window.
    sub_number_prefix: str = ""
    sub_number_digits: int = 4
    #: Digits of the survey code in the SMS (a check digit is added): a caller to the
    #: evaluation line names the survey with it. 10**N must exceed the events received within
    #: one reply window (gateway/surveys/codes.py).
    code_digits: int = 5
    #: Source address when sub-numbers are off; empty → the SMPP client's default.
    source_addr: str = ""
    #: How many outbox SMS may be handed to the SMPP client and not yet answered by the SMSC.
    #: It must cover the SMPP window plus what arrives while the SMPP store commits (at 3,000
    #: SMS/s and a 150 ms commit, 450), or the window starves: 100 held a real link to ~650/s.
    #: If the process dies, SMS handed over and never written to the link are queued again at
    #: its restart; those written and unanswered are marked unknown and never resent (a
    #: citizen is never surveyed twice): at most a couple of SMPP windows' worth.
    outbox_in_flight: int = 500

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> SurveySettings:
        problems = []
        for category, rate in self.sampling_rates.items():
            if not 0.0 <= rate <= 1.0:
                problems.append(f"sampling_rates.{category}={rate} (must be 0..1)")
        if self.window_start >= self.window_end:
            problems.append("window_start must be before window_end")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {self.timezone!r} is unknown")
        for key in ("incident", "case", "window", "other"):
            if key not in self.templates:
                problems.append(f"templates.{key} is missing")
        for key in DEFAULT_REPLIES:
            if key not in self.replies:
                problems.append(f"replies.{key} is missing")
        if self.sub_number_prefix and not self.sub_number_prefix.isdigit():
            problems.append("sub_number_prefix must be digits")
        if not 1 <= self.sub_number_digits <= 8:
            problems.append("sub_number_digits must be 1..8")
        if not 3 <= self.code_digits <= 9:
            problems.append("code_digits must be 3..9")
        for name in ("recently_surveyed_days", "too_old_days", "reply_window_hours"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.delay_minutes < 0 or self.duplicate_window_hours < 0:
            problems.append("delay_minutes and duplicate_window_hours must not be negative")
        if self.outbox_in_flight < 1:
            problems.append("outbox_in_flight must be at least 1")
        if problems:
            raise ValueError("survey: " + "; ".join(problems))
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sensitive(self) -> frozenset[str]:
        return frozenset(self.sensitive_tags)

    @property
    def delay(self) -> timedelta:
        return timedelta(minutes=self.delay_minutes)

    @property
    def reply_window(self) -> timedelta:
        return timedelta(hours=self.reply_window_hours)

    @property
    def duplicate_window(self) -> timedelta:
        return timedelta(hours=self.duplicate_window_hours)

    def sampling_rate(self, category: str) -> float:
        return self.sampling_rates.get(category, 1.0)

    def reply_address(self, survey_id: int) -> str | None:
        """The sub-number a survey is sent from, or None when sub-numbers are off."""
        if not self.sub_number_prefix:
            return None
        return self.sub_number_prefix + str(survey_id % 10**self.sub_number_digits).zfill(
            self.sub_number_digits
        )
