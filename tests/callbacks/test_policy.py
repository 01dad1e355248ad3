"""The callback rules with plain datetimes: windows, retries, endings, overdue, sampling."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.callbacks.policy import (
    after_answered,
    after_unanswered,
    first_attempt_due_by,
    in_window,
    is_overdue,
    next_slot,
    reason_name,
    sampled_for_callback,
)
from gateway.callbacks.settings import CallbackSettings

SH = ZoneInfo("Asia/Shanghai")
S = CallbackSettings()


def sh(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


# 2026-11-27 is a Friday.


def test_inside_morning_window_is_now() -> None:
    """A moment inside a window is its own next slot."""
    at = sh(2026, 11, 27, 10, 15)
    assert in_window(at, S)
    assert next_slot(at, S) == at.astimezone(UTC)


def test_lunch_break_moves_to_afternoon() -> None:
    """12:00 is outside (end exclusive): the next slot is 14:00 the same day."""
    assert not in_window(sh(2026, 11, 27, 12, 0), S)
    assert next_slot(sh(2026, 11, 27, 12, 0), S) == sh(2026, 11, 27, 14, 0)


def test_evening_moves_to_next_morning() -> None:
    """After 20:00 the next slot is 09:00 the next day."""
    assert next_slot(sh(2026, 11, 27, 20, 0), S) == sh(2026, 11, 28, 9, 0)


def test_early_morning_moves_to_nine() -> None:
    """Before 09:00 the next slot is 09:00 the same day."""
    assert next_slot(sh(2026, 11, 27, 6, 30), S) == sh(2026, 11, 27, 9, 0)


def test_utc_input_is_read_in_shanghai_time() -> None:
    """03:00 UTC is 11:00 in Shanghai: inside the morning window."""
    assert in_window(datetime(2026, 11, 27, 3, 0, tzinfo=UTC), S)
    assert not in_window(datetime(2026, 11, 27, 4, 0, tzinfo=UTC), S)


def test_weekday_without_windows_is_skipped() -> None:
    """With no calls at weekends, Friday evening moves to Monday morning."""
    s = CallbackSettings(default_windows=["09:00-17:00"], windows={"sat": [], "sun": []})
    assert next_slot(sh(2026, 11, 27, 18, 0), s) == sh(2026, 11, 30, 9, 0)


def test_naive_datetime_is_refused() -> None:
    """A naive datetime is a programming error and is named as such."""
    with pytest.raises(ValueError, match="naive"):
        next_slot(datetime(2026, 11, 27, 10, 0), S)


def test_first_retry_after_thirty_minutes() -> None:
    """Busy on attempt 1 at 10:00 is retried at 10:30."""
    d = after_unanswered("busy", 1, sh(2026, 11, 27, 10, 0), S)
    assert (d.status, d.next_attempt_at) == ("pending", sh(2026, 11, 27, 10, 30))


def test_second_retry_after_two_hours_lands_in_window() -> None:
    """No answer on attempt 2 at 11:00 waits 2 h (13:00), which is lunch: 14:00."""
    d = after_unanswered("no_answer", 2, sh(2026, 11, 27, 11, 0), S)
    assert (d.status, d.next_attempt_at) == ("pending", sh(2026, 11, 27, 14, 0))


def test_last_attempt_goes_to_manual() -> None:
    """After the third unanswered attempt the task moves to the manual list."""
    d = after_unanswered("congestion", 3, sh(2026, 11, 27, 15, 0), S)
    assert (d.status, d.next_attempt_at) == ("manual", None)
    assert "attempt 3 of 3" in d.why


def test_last_delay_repeats() -> None:
    """With more attempts than delays, the last delay is used again."""
    s = CallbackSettings(max_attempts=5)
    assert s.retry_delay(4) == timedelta(hours=2)
    d = after_unanswered("failed", 4, sh(2026, 11, 27, 15, 0), s)
    assert d.next_attempt_at == sh(2026, 11, 27, 17, 0)


@pytest.mark.parametrize("how", ["completed", "wrong_person", "no_input"])
def test_ivr_endings_close_the_task(how: str) -> None:
    """completed / wrong_person / no_input become the task's status."""
    assert after_answered(how, None, 1, sh(2026, 11, 27, 10), S).status == how


def test_hangup_after_reason_completes() -> None:
    """A hangup after the reason key still completes the task."""
    assert after_answered("hangup", "2", 1, sh(2026, 11, 27, 10), S).status == "completed"


def test_error_after_reason_completes() -> None:
    """A script error after the reason key keeps the answer and completes the task."""
    assert after_answered("error", "4", 1, sh(2026, 11, 27, 10), S).status == "completed"


def test_hangup_before_reason_is_retried() -> None:
    """A hangup before any reason counts as an unanswered attempt and is retried."""
    d = after_answered("hangup", None, 1, sh(2026, 11, 27, 10), S)
    assert (d.status, d.next_attempt_at) == ("pending", sh(2026, 11, 27, 10, 30))


def test_missing_result_on_last_attempt_goes_manual() -> None:
    """No IVR result at all on the last attempt: manual."""
    assert after_answered(None, None, 3, sh(2026, 11, 27, 10), S).status == "manual"


def test_due_by_is_24h_after_creation() -> None:
    """The first attempt is due 24 h after the reply."""
    created = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert first_attempt_due_by(created, S) == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def test_overdue_when_not_attempted_past_deadline() -> None:
    """Unattempted after the deadline: overdue; before it: not."""
    due = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    assert is_overdue(due, None, due + timedelta(seconds=1))
    assert not is_overdue(due, None, due - timedelta(seconds=1))


def test_overdue_when_first_attempt_was_late() -> None:
    """A first attempt after the deadline stays overdue; one before it does not."""
    due = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    later = due + timedelta(days=3)
    assert is_overdue(due, due + timedelta(minutes=1), later)
    assert not is_overdue(due, due - timedelta(minutes=1), later)


def test_no_deadline_never_overdue() -> None:
    """Without due_by there is nothing to miss."""
    assert not is_overdue(None, None, datetime(2030, 1, 1, tzinfo=UTC))


def test_sampling_is_deterministic_and_near_share() -> None:
    """The same survey always gets the same verdict; about 10% of 20,000 are chosen."""
    chosen = [sampled_for_callback(i, 0.1) for i in range(20_000)]
    assert chosen == [sampled_for_callback(i, 0.1) for i in range(20_000)]
    assert 1800 < sum(chosen) < 2200


def test_sampling_extremes() -> None:
    """Share 0 chooses nobody (the default); share 1 chooses everybody."""
    assert not any(sampled_for_callback(i, 0.0) for i in range(1000))
    assert all(sampled_for_callback(i, 1.0) for i in range(1000))


def test_reason_names() -> None:
    """Keypad keys map to reason identifiers; an unknown key stays visible."""
    assert reason_name("1") == "attitude"
    assert reason_name("9") == "unknown:9"
    assert reason_name(None) is None


def test_settings_errors_name_every_key() -> None:
    """Invalid settings list each bad key in one error."""
    with pytest.raises(ValueError) as err:
        CallbackSettings(
            max_concurrent=0,
            non_response_share=1.5,
            windows={"mon": ["12:00-09:00"], "funday": []},
            timezone="Mars/Olympus",
        )
    text = str(err.value)
    assert "max_concurrent=0" in text
    assert "non_response_share=1.5" in text
    assert "windows.mon: 12:00-09:00 must start before it ends" in text
    assert "windows.funday: not a weekday" in text
    assert "timezone 'Mars/Olympus' is unknown" in text


def test_settings_refuse_overlapping_windows() -> None:
    """Overlapping windows on one day are refused."""
    with pytest.raises(ValueError, match=r"windows\.wed: windows overlap at 11:00"):
        CallbackSettings(windows={"wed": ["09:00-12:00", "11:00-13:00"]})


def test_settings_refuse_malformed_window() -> None:
    """A window that is not HH:MM-HH:MM is named with its key."""
    with pytest.raises(ValueError, match=r"default_windows: '9-12' is not HH:MM-HH:MM"):
        CallbackSettings(default_windows=["9-12"])


def test_settings_refuse_a_week_without_windows() -> None:
    """No window on any day would never call anyone: refused."""
    with pytest.raises(ValueError, match="no calling window on any day"):
        CallbackSettings(default_windows=[])


def test_settings_load_from_toml_table() -> None:
    """The section loads through the lead's TOML loader with plain types."""
    import tomllib

    from gateway.configload import load_section

    table = tomllib.loads(
        """
        default_windows = ["08:30-11:30"]
        windows = { sun = [] }
        retry_delays_minutes = [15, 60]
        max_concurrent = 2
        """
    )
    s = load_section(CallbackSettings, table, "callbacks", "test.toml")
    assert s.windows_for(6) == ()
    assert s.windows_for(0) == ((time(8, 30), time(11, 30)),)
    assert s.retry_delay(1) == timedelta(minutes=15)
    assert s.max_concurrent == 2


@given(
    at=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2030, 12, 31),
        timezones=st.just(UTC),
    ),
    sundays_off=st.booleans(),
)
def test_next_slot_is_the_earliest_window_instant(at: datetime, sundays_off: bool) -> None:
    """For any moment: the slot is not earlier, lies in a window, and is either the moment
    itself (already inside) or a window's opening (the first one after it)."""
    s = CallbackSettings(windows={"sun": []}) if sundays_off else S
    slot = next_slot(at, s)
    assert slot >= at
    assert in_window(slot, s)
    if in_window(at, s):
        assert slot == at
    else:
        local = slot.astimezone(s.zone)
        starts = [start for start, _ in s.windows_for(local.weekday())]
        assert local.timetz().replace(tzinfo=None) in starts
        assert slot - at < timedelta(days=2)
