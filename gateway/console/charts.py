"""The monthly trend chart as plain geometry for an inline SVG (no script, no chart library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.console.store import Figures

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 44, 28, 16


@dataclass(frozen=True)
class Bar:
    label: str
    x: float
    y: float
    width: float
    height: float
    sent: int
    satisfaction: float | None
    point: tuple[float, float] | None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    line: str  # the satisfaction polyline's points
    max_sent: int
    baseline: float


def trend_chart(months: list[date], figures: list[Figures]) -> Chart:
    """Bars: surveys sent per month; line: satisfaction (0-100 % on the same height)."""
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(1, len(months))
    top = max([f.sent for f in figures] + [1])
    bars = []
    for i, (month, fig) in enumerate(zip(months, figures, strict=True)):
        h = plot_h * fig.sent / top
        x = LEFT + i * slot + slot * 0.15
        point = None
        if fig.satisfaction is not None:
            point = (round(x + slot * 0.35, 1), round(TOP + plot_h * (1 - fig.satisfaction), 1))
        bars.append(
            Bar(
                f"{month.year % 100:02d}/{month.month:02d}",
                round(x, 1),
                round(TOP + plot_h - h, 1),
                round(slot * 0.7, 1),
                round(h, 1),
                fig.sent,
                fig.satisfaction,
                point,
            )
        )
    line = " ".join(f"{p[0]},{p[1]}" for p in (b.point for b in bars) if p)
    return Chart(WIDTH, HEIGHT, bars, line, top, TOP + plot_h)
