"""The satisfaction formula is explicit and configurable; rates derive from counts."""

import pytest

from gateway.reports.figures import Figures, Formula, percent


def test_seed_formula_counts_basically_satisfied_as_satisfied():
    """The seed: 32,491 satisfied or basically satisfied of 33,563 rated → 96.8 %."""
    f = Figures(satisfied=30000, basically_satisfied=2491, unsatisfied=1072)
    assert f.rated == 33563
    assert percent(f.satisfaction_rate()) == "96.8%"


def test_weighted_formula_gives_basically_satisfied_half_weight():
    f = Figures(satisfied=6, basically_satisfied=2, unsatisfied=2)
    assert f.satisfaction_rate(Formula.named("weighted")) == pytest.approx(0.7)
    assert f.satisfaction_rate(Formula.named("weighted", 0.25)) == pytest.approx(0.65)
    assert f.satisfaction_rate(Formula.named("seed")) == pytest.approx(0.8)


def test_rates_without_a_denominator_are_none():
    f = Figures()
    assert f.satisfaction_rate() is None and f.reply_rate is None
    assert f.rectification_rate is None
    assert percent(None) == "—"


def test_reply_rate_is_replies_over_sms_sent():
    assert Figures(surveyed=139976, replies=33563).reply_rate == pytest.approx(0.2398, abs=1e-4)


def test_unknown_formula_is_refused():
    with pytest.raises(ValueError, match="seed or weighted"):
        Formula.named("median")
    with pytest.raises(ValueError):
        Formula.named("weighted", 1.5)


def test_figures_add_up():
    a = Figures(events=2, satisfied=1)
    a.reasons["attitude"] = 1
    b = Figures(events=3, unsatisfied=2)
    b.reasons["attitude"] = 2
    total = a.add(b)
    assert (total.events, total.rated, total.reasons["attitude"]) == (5, 3, 3)
    assert total.as_dict()["satisfaction_rate"] == pytest.approx(1 / 3)
