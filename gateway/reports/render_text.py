"""A report as plain text (the WeChat/WeCom notice), JSON, or CSV (one file per table)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from gateway.reports.documents import Report, Table
from gateway.reports.figures import percent


def cell(table: Table, column: int, value: Any) -> str:
    if column in table.percent_columns:
        return percent(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def as_text(report: Report, *, tables: bool = True) -> str:
    """The summary lines; with ``tables``, each table below as aligned columns."""
    out = list(report.summary)
    if tables:
        for table in report.tables:
            if not table.rows:
                continue
            out += ["", table.title, "\t".join(table.headers)]
            out += ["\t".join(cell(table, i, v) for i, v in enumerate(row)) for row in table.rows]
    return "\n".join(out) + "\n"


def as_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str) + "\n"


def as_csv(table: Table) -> str:
    """One table as CSV, UTF-8 with a BOM so that Excel opens the Chinese headers."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([cell(table, i, v) for i, v in enumerate(row)])
    return buffer.getvalue()
