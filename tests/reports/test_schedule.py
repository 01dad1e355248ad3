"""The schedule runs each report at its local time: daily, Mondays, the 1st of the month, the
first day of a quarter and of a year; month ends and the time zone decide, not UTC."""

from datetime import UTC, datetime

import pytest

from gateway.reports.schedule import last_run, next_run, period_for
from gateway.reports.settings import ReportSettings

S = ReportSettings(daily_at="08:00", weekly_at="08:30", monthly_at="09:00")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_daily_runs_at_08_00_shanghai_and_reports_yesterday():
    run = next_run("day", utc(2018, 5, 31, 1), S)  # 09:00 in Shanghai: today's run is past
    assert run == utc(2018, 6, 1, 0)  # 08:00 on 1 June, Shanghai
    assert period_for("day", run, S).key == "2018-05-31"


def test_monthly_runs_on_the_first_after_a_short_month():
    run = next_run("month", utc(2019, 2, 10), S)
    assert run == utc(2019, 3, 1, 1)  # 09:00 Shanghai
    assert period_for("month", run, S).key == "2019-02"


def test_a_utc_month_end_is_already_the_next_month_in_shanghai():
    """31 January 23:00 UTC is 1 February 07:00 in Shanghai: the January report is due at
    09:00 that morning (01:00 UTC), not a month later."""
    assert next_run("month", utc(2019, 1, 31, 23), S) == utc(2019, 2, 1, 1)


def test_weekly_runs_on_mondays():
    run = next_run("week", utc(2018, 5, 9), S)  # a Wednesday
    assert run == utc(2018, 5, 14, 0, 30)
    assert period_for("week", run, S).key == "2018-W19"


def test_quarterly_and_annual_run_on_their_first_days():
    assert next_run("quarter", utc(2018, 5, 9), S) == utc(2018, 7, 1, 1)
    assert period_for("quarter", utc(2018, 7, 1, 1), S).key == "2018-Q2"
    assert next_run("year", utc(2018, 5, 9), S) == utc(2019, 1, 1, 1)
    assert period_for("year", utc(2019, 1, 1, 1), S).key == "2018"


def test_another_time_zone():
    urumqi = ReportSettings(timezone="Asia/Urumqi", daily_at="08:00")
    assert next_run("day", utc(2018, 5, 31, 1), urumqi) == utc(2018, 5, 31, 2)


def test_last_run_is_at_or_before_now():
    assert last_run("day", utc(2018, 6, 1, 0), S) == utc(2018, 6, 1, 0)
    assert last_run("month", utc(2018, 6, 15), S) == utc(2018, 6, 1, 1)


def test_bad_times_are_refused_at_start_up():
    with pytest.raises(ValueError, match=r"reports\.daily_at"):
        ReportSettings(daily_at="8 o'clock")
    with pytest.raises(ValueError, match="not a scheduled report"):
        next_run("period", utc(2018, 1, 1), S)
