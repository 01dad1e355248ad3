"""The accountability ladder: counting substantiated cases per officer in a period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.cases import ladder

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR = ladder.period_of("year", datetime(2026, 6, 1, tzinfo=UTC), SHANGHAI)
LEADERS = {
    "S1": [ladder.Leader("L1", "所长", "principal"), ladder.Leader("L2", "副所长", "deputy")]
}


def found(case_id: int, number: str, at: datetime, unit: str = "S1") -> ladder.Substantiated:
    return ladder.Substantiated(case_id, number, f"民警{number}", unit, at)


def test_first_second_third_and_later():
    """1st 通报批评, 2nd 书面检查, 3rd and 4th 纪律处分, each with the cases so far."""
    t = datetime(2026, 3, 1, tzinfo=UTC)
    items = [found(i, "P1", t + timedelta(days=i)) for i in (1, 2, 3, 4)]
    officer = [p for p in ladder.propose(items, {}, YEAR) if p.subject == "officer"]
    assert [(p.step, p.proposed) for p in officer] == [
        (1, "notice"),
        (2, "written_review"),
        (3, "discipline"),
        (4, "discipline"),
    ]
    assert officer[2].case_ids == (1, 2, 3)


def test_leaders_are_flagged_for_each_step():
    proposals = ladder.propose([found(1, "P1", datetime(2026, 3, 1, tzinfo=UTC))], LEADERS, YEAR)
    assert [(p.subject, p.police_number, p.proposed, p.about) for p in proposals] == [
        ("officer", "P1", "notice", None),
        ("principal", "L1", "accountability", "P1"),
        ("deputy", "L2", "accountability", "P1"),
    ]


def test_the_count_starts_again_with_the_new_year():
    """A case found on 31 Dec (Shanghai) belongs to that year; 1 Jan starts from the first step,
    though in UTC both are on 31 December."""
    dec31 = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)  # 23:00 Shanghai, 31 Dec
    jan1 = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 Shanghai, 1 Jan 2027
    items = [
        found(1, "P1", datetime(2026, 5, 1, tzinfo=UTC)),
        found(2, "P1", dec31),
        found(3, "P1", jan1),
    ]
    y2026 = ladder.period_of("year", dec31, SHANGHAI)
    y2027 = ladder.period_of("year", jan1, SHANGHAI)
    assert (y2026.label, y2027.label) == ("2026", "2027")
    assert [p.step for p in ladder.propose(items, {}, y2026)] == [1, 2]
    [first] = ladder.propose(items, {}, y2027)
    assert (first.case_id, first.step, first.proposed) == (3, 1, "notice")


def test_a_rolling_period_of_days():
    now = datetime(2026, 6, 30, 4, tzinfo=UTC)
    period = ladder.period_of("90", now, SHANGHAI)
    items = [found(1, "P1", now - timedelta(days=100)), found(2, "P1", now - timedelta(days=3))]
    [p] = ladder.propose(items, {}, period)
    assert (p.case_id, p.step) == (2, 1)


def test_one_case_with_two_officers_counts_once_for_each():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    proposals = ladder.propose([found(1, "P1", t), found(1, "P2", t)], {}, YEAR)
    assert {(p.police_number, p.step) for p in proposals} == {("P1", 1), ("P2", 1)}


@pytest.mark.parametrize(
    "decision,measure,reason,expected",
    [("as_proposed", None, None, None), ("changed", "notice", "初犯", "notice")],
)
def test_decisions(decision, measure, reason, expected):
    assert ladder.check_decision(decision, measure, reason) == expected


@pytest.mark.parametrize(
    "decision,measure,reason",
    [
        ("changed", "notice", ""),
        ("dismissed", None, " "),
        ("changed", "fine", "x"),
        ("x", None, "y"),
    ],
)
def test_bad_decisions_are_refused(decision, measure, reason):
    with pytest.raises(ladder.DecisionError):
        ladder.check_decision(decision, measure, reason)
