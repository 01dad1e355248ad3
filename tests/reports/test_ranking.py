"""Ranking: minimum sample (样本不足), ties shown as ties, a Wilson interval per unit."""

import pytest

from gateway.reports.figures import Figures, Formula
from gateway.reports.ranking import INSUFFICIENT, last_place, rank_units, wilson


def figs(satisfied, basic, unsatisfied):
    return Figures(satisfied=satisfied, basically_satisfied=basic, unsatisfied=unsatisfied)


SEED = Formula()


def rank(units, min_sample=10, formula=SEED):
    return rank_units(units, formula=formula, min_sample=min_sample)


def test_best_rate_first_with_competition_ranks_for_ties():
    rows = rank(
        [
            ("A", "甲", figs(9, 0, 1)),
            ("B", "乙", figs(18, 0, 2)),  # same rate as A: tied
            ("C", "丙", figs(10, 0, 0)),
            ("D", "丁", figs(7, 1, 2)),
        ]
    )
    assert [(r.unit_code, r.rank, r.tied) for r in rows] == [
        ("C", 1, False),
        ("A", 2, True),
        ("B", 2, True),
        ("D", 4, False),
    ]
    assert rows[1].rank_label == "2（并列）"
    assert last_place(rows) == ["D"]


def test_units_under_the_minimum_sample_are_listed_but_not_ranked():
    rows = rank([("A", "甲", figs(5, 0, 5)), ("B", "乙", figs(3, 0, 0))], min_sample=10)
    assert rows[-1].unit_code == "B" and rows[-1].rank is None
    assert rows[-1].rank_label == INSUFFICIENT
    # a single ranked unit is nobody's "last place"
    assert last_place(rows) == []


def test_a_tie_at_the_bottom_puts_every_tied_unit_last():
    rows = rank(
        [("A", "甲", figs(10, 0, 0)), ("B", "乙", figs(8, 0, 2)), ("C", "丙", figs(16, 0, 4))]
    )
    assert sorted(last_place(rows)) == ["B", "C"]


def test_the_formula_decides_the_order():
    units = [("A", "甲", figs(6, 4, 0)), ("B", "乙", figs(9, 0, 1))]
    assert rank(units)[0].unit_code == "A"  # seed: 100 % vs 90 %
    assert rank(units, formula=Formula.named("weighted"))[0].unit_code == "B"  # 80 % vs 90 %


def test_wilson_interval():
    low, high = wilson(90, 100)
    assert low == pytest.approx(0.8256, abs=1e-3) and high == pytest.approx(0.9448, abs=1e-3)
    low, high = wilson(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-3)
    assert wilson(0, 0) is None
    row = rank([("A", "甲", figs(90, 0, 10))])[0]
    assert row.interval[0] < row.rate < row.interval[1]
