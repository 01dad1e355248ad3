"""The figures of one unit (its subtree) over one period, and the formulas over them.

Counts are what ``pingjing export surveys`` / ``export callbacks`` list for the same unit and
period; every rate is derived here from the counts, never stored, so the formula in the
configuration is the only definition of "satisfaction rate".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

#: Counters a store fills, in report column order.
COUNTS = (
    "events",
    "surveyed",
    "delivered",
    "replies",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
    "callbacks_due",
    "reached_ivr",
    "reached_by_hand",
    "unreachable",
    "callbacks_overdue",
    "cases_substantiated",
    "cases_unsubstantiated",
    "cases_rectified",
    "cases_returned",
    "cases_overdue",
)

#: Column titles of the report tables.
TITLES = {
    "events": "服务事件",
    "surveyed": "发送短信",
    "delivered": "送达",
    "replies": "回复",
    "reply_rate": "回复率",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
    "rated": "有效评价",
    "satisfaction_rate": "满意率",
    "callbacks_due": "应回访",
    "reached_ivr": "语音回访接通",
    "reached_by_hand": "人工回访",
    "unreachable": "未联系上",
    "callbacks_overdue": "回访超时",
    "cases_substantiated": "查证属实",
    "cases_unsubstantiated": "查证不属实",
    "cases_rectified": "已整改",
    "cases_returned": "退回整改",
    "cases_overdue": "整改超期",
    "rectification_rate": "整改率",
}


@dataclass(frozen=True, slots=True)
class Formula:
    """Satisfaction rate = (满意 × w_s + 基本满意 × w_b + 不满意 × w_u) / rated replies.

    ``seed`` (the default) is the seed system's (满意 + 基本满意) / rated; ``weighted`` gives a
    basically-satisfied reply a partial weight (0.5 unless configured).
    """

    name: str = "seed"
    satisfied: float = 1.0
    basically_satisfied: float = 1.0
    unsatisfied: float = 0.0

    @classmethod
    def named(cls, name: str, basic_weight: float = 0.5) -> Formula:
        if name == "seed":
            return cls("seed")
        if name == "weighted":
            if not 0.0 <= basic_weight <= 1.0:
                raise ValueError("reports.basic_weight: expected a number between 0 and 1")
            return cls("weighted", 1.0, basic_weight, 0.0)
        raise ValueError(f"reports.formula: expected seed or weighted, not {name!r}")

    def rate(self, satisfied: int, basic: int, unsatisfied: int) -> float | None:
        rated = satisfied + basic + unsatisfied
        if not rated:
            return None
        score = (
            satisfied * self.satisfied
            + basic * self.basically_satisfied
            + unsatisfied * self.unsatisfied
        )
        return score / rated

    def describe(self) -> str:
        if self.name == "seed":
            return "满意率 = (满意 + 基本满意) / 有效评价"
        return f"满意率 = (满意 + {self.basically_satisfied:g} × 基本满意) / 有效评价"


@dataclass(slots=True)
class Figures:
    events: int = 0
    surveyed: int = 0
    delivered: int = 0
    replies: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    callbacks_due: int = 0
    reached_ivr: int = 0
    reached_by_hand: int = 0
    unreachable: int = 0
    callbacks_overdue: int = 0
    cases_substantiated: int = 0
    cases_unsubstantiated: int = 0
    cases_rectified: int = 0
    cases_returned: int = 0
    cases_overdue: int = 0
    #: reason -> count; IVR keys as ``attitude``..., SMS comments as ``inferred:attitude``...
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def rated(self) -> int:
        return self.satisfied + self.basically_satisfied + self.unsatisfied

    @property
    def reply_rate(self) -> float | None:
        return self.replies / self.surveyed if self.surveyed else None

    def satisfaction_rate(self, formula: Formula | None = None) -> float | None:
        return (formula or Formula()).rate(
            self.satisfied, self.basically_satisfied, self.unsatisfied
        )

    @property
    def rectification_rate(self) -> float | None:
        if not self.cases_substantiated:
            return None
        return self.cases_rectified / self.cases_substantiated

    def add(self, other: Figures) -> Figures:
        """The sum of two disjoint sets of figures (two units, two periods)."""
        out = Figures(**{name: getattr(self, name) + getattr(other, name) for name in COUNTS})
        out.reasons = self.reasons + other.reasons
        return out

    def as_dict(self, formula: Formula | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNTS}
        out["rated"] = self.rated
        out["reply_rate"] = self.reply_rate
        out["satisfaction_rate"] = self.satisfaction_rate(formula)
        out["rectification_rate"] = self.rectification_rate
        out["reasons"] = dict(sorted(self.reasons.items()))
        return out


assert tuple(f.name for f in fields(Figures))[: len(COUNTS)] == COUNTS


def percent(value: float | None, digits: int = 1) -> str:
    """``0.968`` → ``96.8%``; no value → ``—``."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"
