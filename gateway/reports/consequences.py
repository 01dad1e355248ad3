"""What a ranking leads to: 约谈 records for last place, deductions, and the annual sheet.

The seed's rules: last place of a month → the unit's 分管领导 talks with those responsible
(约谈); last place three months in a row → the city bureau's discipline commission (纪委)
talks with the 主要领导 and the 分管领导, and the unit loses assessment points. These are
*proposals* a supervisor confirms, like the ladder's; ``consecutive_last`` counts across year
ends (December, January, February is three in a row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.reports.periods import Period

MONTHLY_INTERVIEW = "monthly_last"  # 约谈: the unit's 分管领导 with those responsible
DISCIPLINE_INTERVIEW = "three_months_last"  # 纪委约谈 of 主要领导 and 分管领导

KIND_LABELS = {
    MONTHLY_INTERVIEW: "月度满意率末位约谈（分管领导约谈责任人）",
    DISCIPLINE_INTERVIEW: "连续三个月末位纪委约谈（主要领导、分管领导）",
}


@dataclass(frozen=True, slots=True)
class InterviewProposal:
    unit_code: str
    month: str  # Period.key of the month that triggered it
    kind: str
    interviewees: tuple[str, ...]
    deduction: float = 0.0
    months: tuple[str, ...] = ()  # the months in a row that led to it

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]


def consecutive_last(history: Sequence[Sequence[str]], unit_code: str) -> int:
    """How many of the latest months (``history`` oldest first, each the month's last-place
    codes) ``unit_code`` was last in, counting back from the newest."""
    run = 0
    for codes in reversed(history):
        if unit_code not in codes:
            break
        run += 1
    return run


def proposals_for_month(
    month: Period,
    history: Sequence[Sequence[str]],
    *,
    streak: int = 3,
    deduction: float = 2.0,
) -> list[InterviewProposal]:
    """Proposals for ``month``, whose last-place codes are ``history[-1]``.

    A run of exactly ``streak`` (and every further ``streak``: 6, 9...) months adds the
    discipline interview and the deduction; a longer run does not repeat them every month.
    """
    if not history:
        return []
    months = [month]
    while len(months) < len(history):
        months.append(months[-1].previous())
    keys = [p.key for p in reversed(months)]
    out: list[InterviewProposal] = []
    for code in sorted(history[-1]):
        out.append(InterviewProposal(code, month.key, MONTHLY_INTERVIEW, ("分管领导",)))
        run = consecutive_last(history, code)
        if run >= streak and run % streak == 0:
            out.append(
                InterviewProposal(
                    code,
                    month.key,
                    DISCIPLINE_INTERVIEW,
                    ("主要领导", "分管领导"),
                    deduction=deduction,
                    months=tuple(keys[-run:]),
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class PointsTable:
    """Annual assessment points: per monthly rank, per deduction, and callback bonuses."""

    #: points for rank 1, 2, 3...; ranks past the list get ``other_rank``
    rank_points: tuple[float, ...] = (3.0, 2.0, 1.0)
    other_rank: float = 0.0
    #: a good callback year: reached share at or above ``callback_target`` → ``callback_bonus``;
    #: below ``callback_floor`` → ``-callback_bonus``
    callback_target: float = 0.95
    callback_floor: float = 0.8
    callback_bonus: float = 2.0
    rectification_target: float = 1.0
    rectification_bonus: float = 1.0

    def for_rank(self, rank: int | None) -> float:
        if rank is None:
            return 0.0
        if rank <= len(self.rank_points):
            return self.rank_points[rank - 1]
        return self.other_rank


@dataclass(slots=True)
class AnnualSheet:
    unit_code: str
    monthly_ranks: dict[str, int | None] = field(default_factory=dict)
    rank_points: float = 0.0
    deductions: float = 0.0
    callback_points: float = 0.0
    rectification_points: float = 0.0

    @property
    def total(self) -> float:
        return self.rank_points - self.deductions + self.callback_points + self.rectification_points


def annual_sheet(
    unit_code: str,
    monthly_ranks: Mapping[str, int | None],
    deductions: float,
    callbacks_due: int,
    callbacks_reached: int,
    substantiated: int,
    rectified: int,
    table: PointsTable,
) -> AnnualSheet:
    sheet = AnnualSheet(unit_code, dict(monthly_ranks), deductions=deductions)
    sheet.rank_points = sum(table.for_rank(rank) for rank in monthly_ranks.values())
    if callbacks_due:
        share = callbacks_reached / callbacks_due
        if share >= table.callback_target:
            sheet.callback_points = table.callback_bonus
        elif share < table.callback_floor:
            sheet.callback_points = -table.callback_bonus
    if substantiated and rectified / substantiated >= table.rectification_target:
        sheet.rectification_points = table.rectification_bonus
    return sheet
