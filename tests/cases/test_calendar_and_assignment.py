"""Working days on the PRC calendar, and vertical management's choice of handling unit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.cases.assignment import handling_unit
from gateway.cases.calendar import WorkCalendar, coverage_warning
from gateway.cases.settings import CaseSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_case_opened_before_national_day_is_due_after_it():
    """Opened Wednesday 30 Sept 2026 with 3 working days: 1-7 October are holidays, so the
    days counted are Thu 8, Fri 9 and Saturday 10 October, a working day in exchange (调休).
    The case is due at the end of 10 October, Shanghai time."""
    cal = WorkCalendar()
    assert [d for d in range(1, 8) if cal.is_workday(date(2026, 10, d))] == []
    assert cal.is_workday(date(2026, 10, 10))
    opened = datetime(2026, 9, 30, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert cal.due(opened, 3, SHANGHAI) == datetime(2026, 10, 11, tzinfo=SHANGHAI)


def test_weekends_are_skipped_in_an_ordinary_week():
    cal = WorkCalendar()
    assert cal.add_working_days(date(2026, 11, 20), 3) == date(2026, 11, 25)  # Fri -> Wed


def test_a_year_the_package_does_not_cover_uses_weekdays_and_the_configured_extras():
    cal = WorkCalendar(extra_holidays=[date(2027, 1, 1)], extra_workdays=[date(2027, 1, 9)])
    assert not cal.covered(2027) and cal.covered(2026)
    assert not cal.is_workday(date(2027, 1, 1))  # a Friday, configured holiday
    assert cal.is_workday(date(2027, 1, 9))  # a Saturday, configured working day
    assert not cal.is_workday(date(2027, 1, 10))
    assert cal.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)


def test_configured_extras_override_the_package():
    cal = WorkCalendar(extra_holidays=[date(2026, 11, 23)])
    assert not cal.is_workday(date(2026, 11, 23))


def test_case_settings_refuse_bad_values_naming_the_key():
    with pytest.raises(ValueError, match="assign_level"):
        CaseSettings(assign_level="province")
    with pytest.raises(ValueError, match="extra_holidays"):
        CaseSettings(extra_holidays=["2027-13-01"])
    with pytest.raises(ValueError, match="verify_days"):
        CaseSettings(verify_days=0)


UNITS = {
    "C": (None, "city_bureau"),
    "S1": ("C", "sub_bureau"),
    "P1": ("S1", "station"),
    "W1": ("P1", "window"),
    "D1": ("C", "department"),
    "T1": ("D1", "team"),
    "X": ("C", "station"),
}


@pytest.mark.parametrize(
    "unit,level,expected",
    [
        ("W1", "unit", "W1"),
        ("W1", "bureau", "S1"),
        ("P1", "bureau", "S1"),
        ("S1", "bureau", "S1"),
        ("T1", "bureau", "D1"),
        ("X", "bureau", "X"),
        ("C", "bureau", "C"),
        ("W1", "map", "P1"),
        ("T1", "map", "D1"),
    ],
)
def test_vertical_management(unit, level, expected):
    assert handling_unit(unit, UNITS, level, {"P1": "P1"}) == expected


def test_unknown_unit_is_an_error():
    with pytest.raises(KeyError):
        handling_unit("NOPE", UNITS, "bureau")


def test_no_warning_while_the_package_knows_the_coming_weeks():
    assert coverage_warning(WorkCalendar(), date(2026, 6, 1)) is None


def test_a_warning_names_the_year_the_package_does_not_know_yet():
    """December 2026: deadlines may fall in January 2027, which chinesecalendar 1.11 lacks."""
    message = coverage_warning(WorkCalendar(), date(2026, 12, 3))
    assert message is not None
    assert "2027" in message and "2026" not in message
    assert "extra_holidays" in message


def test_the_configured_holidays_of_a_year_silence_the_warning():
    calendar = WorkCalendar(extra_holidays=[date(2027, 1, 1)])
    assert coverage_warning(calendar, date(2026, 12, 3)) is None
