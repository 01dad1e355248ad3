"""Sending hours: 08:00-21:00 Asia/Shanghai; outside, the next opening; results in UTC."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.surveys.schedule import in_window, next_send_time
from gateway.surveys.settings import SurveySettings

SH = ZoneInfo("Asia/Shanghai")
S = SurveySettings()


def local(h, m=0, day=2):
    return datetime(2026, 3, day, h, m, tzinfo=SH)


def test_inside_window_sends_at_once():
    assert next_send_time(local(12), S) == local(12).astimezone(UTC)


def test_result_is_utc():
    assert next_send_time(local(12), S).tzinfo is UTC


def test_before_opening_waits_until_eight():
    assert next_send_time(local(6, 15), S) == local(8)


def test_at_closing_time_waits_until_next_morning():
    """21:00 itself is outside the window (it is half-open)."""
    assert next_send_time(local(21), S) == local(8, day=3)


def test_late_evening_waits_until_next_morning():
    assert next_send_time(local(23, 59), S) == local(8, day=3)


def test_exactly_at_opening_sends():
    assert next_send_time(local(8), S) == local(8)


def test_utc_input_is_judged_in_local_time():
    """13:30 UTC is 21:30 in Shanghai: next window is 08:00 local the next day."""
    moment = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
    assert next_send_time(moment, S) == local(8, day=3)


def test_month_end_rolls_over():
    moment = datetime(2026, 3, 31, 22, 0, tzinfo=SH)
    assert next_send_time(moment, S) == datetime(2026, 4, 1, 8, 0, tzinfo=SH)


def test_configured_window_is_used():
    settings = SurveySettings(window_start=time(9), window_end=time(18))
    assert next_send_time(local(18, 30), settings) == local(9, day=3)
    assert not in_window(local(8, 30), settings)
    assert in_window(local(17, 59), settings)


def test_delay_then_window_for_an_event_closing_late():
    """An event closing at 20:45 plus 30 minutes lands at 21:15: it waits for 08:00."""
    closed = local(20, 45)
    assert next_send_time(closed + timedelta(minutes=30), S) == local(8, day=3)
