"""The citizen's outcome SMS: its text, and held to the configured sending hours."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from gateway.cases.outcome import next_sending_time, outcome_text
from gateway.cases.settings import CaseSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOWS = [(time(9), time(20))]


def test_the_text_says_the_verdict_without_naming_anyone():
    settings = CaseSettings(outcome_sign="玉溪市公安局")
    opened = datetime(2026, 11, 2, 3, tzinfo=UTC)
    yes = outcome_text(settings, opened, True)
    no = outcome_text(settings, opened, False)
    assert yes.startswith("【玉溪市公安局】") and "11月2日" in yes and "情况属实" in yes
    assert "未发现民警存在过错" in no


def test_inside_the_window_it_goes_now_outside_it_waits_for_the_next_opening():
    inside = datetime(2026, 11, 2, 12, 0, tzinfo=SHANGHAI)
    assert next_sending_time(inside, WINDOWS, SHANGHAI) == inside
    evening = datetime(2026, 11, 2, 21, 30, tzinfo=SHANGHAI)
    assert next_sending_time(evening, WINDOWS, SHANGHAI) == datetime(
        2026, 11, 3, 9, 0, tzinfo=SHANGHAI
    )
    early = datetime(2026, 11, 2, 7, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert next_sending_time(early, WINDOWS, SHANGHAI) == datetime(
        2026, 11, 2, 9, 0, tzinfo=SHANGHAI
    )
