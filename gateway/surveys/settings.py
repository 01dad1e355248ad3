"""Survey settings with the defaults issue 4 sets; the lead maps the TOML section onto them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_HOW_TO_RATE = "回复1满意，2基本满意，3不满意。回复TD退订"
DEFAULT_TEMPLATES: dict[str, str] = {
    "incident": "您{date}报警求助（{business}），请评价{unit}处警民警：" + _HOW_TO_RATE,
    "case": "您{date}在{unit}办理的{business}，请评价办案民警：" + _HOW_TO_RATE,
    "window": "您{date}在{unit}办理{business}业务，请评价窗口民警：" + _HOW_TO_RATE,
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
    """Who is surveyed, when, with which texts, and how replies are matched."""

    sensitive_tags: frozenset[str] = frozenset({"domestic_violence", "sexual_offence", "juvenile"})
    recently_surveyed_days: int = 30
    too_old_days: int = 7
    duplicate_window: timedelta = timedelta(hours=24)
    sampling_rates: dict[str, float] = field(default_factory=dict)  # category → 0..1, default 1
    delay: timedelta = timedelta(minutes=30)
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    zone: ZoneInfo = SHANGHAI
    reply_window: timedelta = timedelta(hours=72)
    signature: str = "【某某公安】"
    templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    replies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REPLIES))
    # Per-survey sub-numbers: replies to prefix + N digits are matched to the survey by address.
    sub_number_prefix: str | None = None
    sub_number_digits: int = 4
    source_addr: str | None = None  # when sub-numbers are off: None → the SMPP default

    def __post_init__(self) -> None:
        problems = []
        for category, rate in self.sampling_rates.items():
            if not 0.0 <= rate <= 1.0:
                problems.append(f"sampling_rates.{category}={rate} (must be 0..1)")
        if self.window_start >= self.window_end:
            problems.append("window_start must be before window_end")
        for key in ("incident", "case", "window", "other"):
            if key not in self.templates:
                problems.append(f"templates.{key} is missing")
        if self.sub_number_prefix is not None and not self.sub_number_prefix.isdigit():
            problems.append("sub_number_prefix must be digits")
        if not 1 <= self.sub_number_digits <= 8:
            problems.append("sub_number_digits must be 1..8")
        if problems:
            raise ValueError("invalid survey settings: " + "; ".join(problems))

    def sampling_rate(self, category: str) -> float:
        return self.sampling_rates.get(category, 1.0)
