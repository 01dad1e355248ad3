"""Last place of a month → 约谈; three months running (across a year end) → 纪委约谈 and a
deduction; the annual sheet adds ranks, deductions and the callback bonus."""

from datetime import UTC, date, datetime

from gateway.reports import compute
from gateway.reports.consequences import (
    DISCIPLINE_INTERVIEW,
    MONTHLY_INTERVIEW,
    PointsTable,
    annual_sheet,
    consecutive_last,
    proposals_for_month,
)
from gateway.reports.periods import period_of
from gateway.reports.settings import ReportSettings

from .memory import city, replies

SETTINGS = ReportSettings(min_sample=5)
NOW = datetime(2019, 3, 1, tzinfo=UTC)


def month(y, m):
    return period_of("month", date(y, m, 1))


def test_consecutive_last_counts_back_from_the_newest_month():
    assert consecutive_last([["A"], ["A", "B"], ["A"]], "A") == 3
    assert consecutive_last([["A"], ["B"], ["A"]], "A") == 1
    assert consecutive_last([["A"], ["B"]], "A") == 0


def test_monthly_last_proposes_an_interview_for_the_deputy_leader():
    proposals = proposals_for_month(month(2018, 5), [["B"], ["A"]])
    assert [(p.unit_code, p.kind, p.interviewees) for p in proposals] == [
        ("A", MONTHLY_INTERVIEW, ("分管领导",))
    ]


def test_third_month_running_adds_the_discipline_interview_and_a_deduction():
    proposals = proposals_for_month(month(2019, 2), [["A"], ["A"], ["A"]], deduction=2.0)
    discipline = [p for p in proposals if p.kind == DISCIPLINE_INTERVIEW]
    assert len(discipline) == 1
    assert discipline[0].interviewees == ("主要领导", "分管领导")
    assert discipline[0].deduction == 2.0
    assert discipline[0].months == ("2018-12", "2019-01", "2019-02")


def test_a_fourth_month_does_not_repeat_the_discipline_interview():
    proposals = proposals_for_month(month(2019, 3), [["A"]] * 4)
    assert [p.kind for p in proposals] == [MONTHLY_INTERVIEW]


def test_three_months_running_across_a_year_boundary_through_the_store():
    """JC is last in December, January and February: the February outcome proposes both."""
    store = city()
    for y, m in ((2018, 11), (2018, 12), (2019, 1), (2019, 2)):
        day = date(y, m, 10)
        store.facts += replies("HT", day, 10, 0)
        store.facts += replies("CJ", day, 9, 1)
        store.facts += replies("JJ", day, 8, 1)
        worst = "JC" if (y, m) != (2018, 11) else "CJ"
        other = "CJ" if worst == "JC" else "JC"
        store.facts += replies(worst, day, 5, 5)
        store.facts += replies(other, day, 9, 1)
    outcome = compute.record_month(store, None, month(2019, 2), SETTINGS, NOW)
    kinds = sorted((p.unit_code, p.kind) for p in outcome.proposals)
    assert kinds == [("JC", MONTHLY_INTERVIEW), ("JC", DISCIPLINE_INTERVIEW)]
    saved = store.interviews(None, "2019-02")
    assert {i.status for i in saved} == {"proposed"}
    # recording the same month again adds nothing
    compute.record_month(store, None, month(2019, 2), SETTINGS, NOW)
    assert len(store.interviews(None)) == 2
    # January was only the second month running: no discipline interview then
    january = compute.month_outcome(store, None, month(2019, 1), SETTINGS)
    assert [p.kind for p in january.proposals] == [MONTHLY_INTERVIEW]


def test_units_with_too_few_replies_are_not_last():
    store = city()
    day = date(2018, 5, 3)
    store.facts += replies("HT", day, 10, 0)
    store.facts += replies("CJ", day, 9, 1)
    store.facts += replies("JJ", day, 1, 3)  # 4 < min_sample 5: 样本不足
    outcome = compute.month_outcome(store, None, month(2018, 5), SETTINGS)
    assert [p.unit_code for p in outcome.proposals] == ["CJ"]
    assert outcome.rows[-1].unit_code in ("JC", "JJ") and outcome.rows[-1].rank is None


def test_ranking_group_is_configurable():
    store = city()
    day = date(2018, 5, 3)
    store.facts += replies("HT01", day, 6, 0)
    rows = compute.ranking(store, None, month(2018, 5), ReportSettings(ranking_group="HT"))
    assert [(r.unit_code, r.rank) for r in rows] == [("HT01", None)]
    default = compute.ranking(store, None, month(2018, 5), SETTINGS)
    assert default[0].unit_code == "HT"  # the station counts for its bureau


def test_annual_sheet_points():
    table = PointsTable(rank_points=(3, 2, 1), callback_bonus=2, rectification_bonus=1)
    sheet = annual_sheet(
        "A", {"2018-01": 1, "2018-02": 4, "2018-03": None}, 2.0, 100, 97, 5, 5, table
    )
    assert sheet.rank_points == 3 and sheet.callback_points == 2
    assert sheet.rectification_points == 1 and sheet.total == 3 - 2 + 2 + 1
    poor = annual_sheet("B", {}, 0.0, 10, 5, 0, 0, table)
    assert poor.callback_points == -2


def test_annual_sheets_count_confirmed_deductions_only():
    store = city()
    for m in (10, 11, 12):
        day = date(2018, m, 5)
        for code in ("HT", "CJ", "JJ"):
            store.facts += replies(code, day, 10, 0)
        store.facts += replies("JC", day, 5, 5)
        compute.record_month(store, None, month(2018, m), SETTINGS, NOW)
    discipline = [i for i in store.interviews(None) if i.kind == DISCIPLINE_INTERVIEW]
    assert len(discipline) == 1
    before = {
        s.unit_code: s
        for s in compute.annual_sheets(store, None, period_of("year", date(2018, 1, 1)), SETTINGS)
    }
    assert before["JC"].deductions == 0
    store.decide_interview(None, discipline[0].id, "confirmed", "督察支队", NOW)
    after = {
        s.unit_code: s
        for s in compute.annual_sheets(store, None, period_of("year", date(2018, 1, 1)), SETTINGS)
    }
    assert after["JC"].deductions == 2.0
    assert after["HT"].rank_points == 3 * 3.0  # tied first in three months: 3 points each
