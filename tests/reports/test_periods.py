"""Periods follow the configured time zone, and months/quarters/years chain across year ends."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.reports.periods import Period, last_complete, months_back, period_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_month_bounds_are_local_midnights_in_utc():
    """May 2018 in Shanghai runs from 30 April 16:00 UTC to 31 May 16:00 UTC."""
    start, end = period_of("month", date(2018, 5, 17)).bounds(SHANGHAI)
    assert start == datetime(2018, 4, 30, 16, tzinfo=UTC)
    assert end == datetime(2018, 5, 31, 16, tzinfo=UTC)


def test_yesterday_is_the_local_yesterday():
    """At 23:30 UTC it is already the next morning in Shanghai."""
    now = datetime(2018, 5, 31, 23, 30, tzinfo=UTC)  # 07:30 on 1 June, Shanghai
    assert last_complete("day", now, SHANGHAI).first == date(2018, 5, 31)
    assert last_complete("month", now, SHANGHAI).key == "2018-05"


def test_month_ends_and_leap_years():
    assert period_of("month", date(2020, 2, 10)).last == date(2020, 2, 29)
    assert period_of("month", date(2019, 2, 10)).last == date(2019, 2, 28)
    assert period_of("month", date(2018, 12, 31)).after == date(2019, 1, 1)


def test_previous_crosses_the_year_boundary():
    jan = period_of("month", date(2019, 1, 5))
    assert jan.previous().key == "2018-12"
    assert [p.key for p in months_back(period_of("month", date(2019, 2, 1)), 3)] == [
        "2018-12",
        "2019-01",
        "2019-02",
    ]
    assert period_of("quarter", date(2019, 2, 1)).previous().key == "2018-Q4"


def test_weeks_start_on_monday_and_keys_are_iso():
    week = period_of("week", date(2018, 5, 10))  # a Thursday
    assert week.first == date(2018, 5, 7) and week.after == date(2018, 5, 14)
    assert week.key == "2018-W19"


def test_labels_are_chinese():
    assert period_of("month", date(2018, 5, 1)).label == "2018年5月"
    assert period_of("quarter", date(2018, 5, 1)).label == "2018年第2季度"
    assert Period("period", date(2017, 5, 1), date(2018, 7, 11)).label == (
        "2017年5月1日至2018年7月10日"
    )


def test_empty_period_and_unknown_kind_are_refused():
    with pytest.raises(ValueError):
        Period("month", date(2018, 5, 1), date(2018, 5, 1))
    with pytest.raises(ValueError):
        period_of("fortnight", date(2018, 5, 1))
