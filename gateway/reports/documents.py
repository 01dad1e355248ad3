"""A report as plain data (title, summary lines, tables, charts), before any file format.

Builders (``builders``) fill it from a store; renderers turn it into text, JSON, CSV
(``render_text``), XLSX (``render_xlsx``) and charts (``render_charts``). Keeping the content
apart from the format is what lets the daily WeChat text, the e-mailed workbook and the API
show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.reports.figures import TITLES, Figures, Formula
from gateway.reports.periods import Period


@dataclass(slots=True)
class Table:
    name: str  # sheet / file name, ASCII
    title: str
    headers: list[str]
    rows: list[list[Any]]
    #: columns holding rates (0..1 or None), shown as percentages
    percent_columns: frozenset[int] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "headers": self.headers, "rows": self.rows}


@dataclass(slots=True)
class Chart:
    name: str  # file stem, ASCII
    kind: str  # bar | line | barh
    title: str
    labels: list[str]
    series: dict[str, list[float | None]]
    percent: bool = False


@dataclass(slots=True)
class Report:
    kind: str
    period: Period
    unit_code: str
    title: str
    summary: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        unit = f"_{self.unit_code}" if self.unit_code else ""
        return f"{self.kind}_{self.period.key}{unit}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "period": {
                "key": self.period.key,
                "from": self.period.first.isoformat(),
                "to": self.period.last.isoformat(),
            },
            "unit_code": self.unit_code,
            "title": self.title,
            "summary": self.summary,
            "tables": [t.as_dict() for t in self.tables],
            "data": self.data,
        }


FIGURE_COLUMNS = (
    "events",
    "surveyed",
    "delivered",
    "replies",
    "reply_rate",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
    "satisfaction_rate",
    "callbacks_due",
    "reached_ivr",
    "reached_by_hand",
    "unreachable",
    "cases_substantiated",
    "cases_rectified",
    "rectification_rate",
)
RATE_COLUMNS = ("reply_rate", "satisfaction_rate", "rectification_rate")


def figures_table(
    name: str,
    title: str,
    rows: list[tuple[str, str, Figures]],
    formula: Formula,
    first_headers: tuple[str, ...] = ("单位代码", "单位"),
) -> Table:
    headers = [*first_headers, *(TITLES[c] for c in FIGURE_COLUMNS)]
    body = []
    for key, label, figs in rows:
        values = figs.as_dict(formula)
        body.append([key, label, *(values[c] for c in FIGURE_COLUMNS)])
    offset = len(first_headers)
    percent = frozenset(offset + FIGURE_COLUMNS.index(c) for c in RATE_COLUMNS)
    return Table(name, title, headers, body, percent)
