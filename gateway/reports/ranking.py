"""The monthly ranking of the configured group of units by satisfaction rate.

Units with fewer rated replies than the minimum are listed as 样本不足 and not ranked. Units
with equal rates share a rank (competition ranking: 1, 2, 2, 4), so a tie at the bottom makes
every tied unit "last". Each row carries its sample size and a Wilson score interval, so a
reader sees how far apart two rates really are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

from gateway.reports.figures import Figures, Formula

INSUFFICIENT = "样本不足"


def wilson(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; ``successes`` may be weighted (fractional)."""
    if n <= 0:
        return None
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = min(max(successes / n, 0.0), 1.0)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class RankRow:
    unit_code: str
    unit_name: str
    figures: Figures
    rate: float | None
    interval: tuple[float, float] | None
    rank: int | None  # None: not ranked (样本不足)
    tied: bool = False
    last: bool = False

    @property
    def sample(self) -> int:
        return self.figures.rated

    @property
    def rank_label(self) -> str:
        if self.rank is None:
            return INSUFFICIENT
        return f"{self.rank}（并列）" if self.tied else str(self.rank)


def rank_units(
    units: Iterable[tuple[str, str, Figures]],
    *,
    formula: Formula,
    min_sample: int,
    confidence: float = 0.95,
    digits: int = 6,
) -> list[RankRow]:
    """Rank ``(code, name, figures)``: best rate first, ties share a rank, the unranked last.

    Rates are compared rounded to ``digits`` decimals so that two units with the same counts
    never differ by floating-point noise.
    """
    scored = []
    unranked = []
    for code, name, figs in units:
        rate = figs.satisfaction_rate(formula)
        interval = None if rate is None else wilson(rate * figs.rated, figs.rated, confidence)
        if figs.rated < max(min_sample, 1):
            unranked.append(RankRow(code, name, figs, rate, interval, None))
        else:
            scored.append((round(rate or 0.0, digits), code, name, figs, rate, interval))
    scored.sort(key=lambda row: (-row[0], row[1]))
    counts: dict[float, int] = {}
    for row in scored:
        counts[row[0]] = counts.get(row[0], 0) + 1
    worst = scored[-1][0] if scored else None
    out: list[RankRow] = []
    rank = 0
    previous = None
    for position, (key, code, name, figs, rate, interval) in enumerate(scored, start=1):
        if key != previous:
            rank, previous = position, key
        out.append(
            RankRow(
                code,
                name,
                figs,
                rate,
                interval,
                rank,
                tied=counts[key] > 1,
                last=key == worst and len(scored) > 1,
            )
        )
    unranked.sort(key=lambda row: row.unit_code)
    return out + unranked


def last_place(rows: Iterable[RankRow]) -> list[str]:
    """Codes of the units in last place (several when tied); none when fewer than two ranked."""
    return [row.unit_code for row in rows if row.last]
