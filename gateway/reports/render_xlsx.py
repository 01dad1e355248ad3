"""A report as an XLSX workbook (XlsxWriter): a summary sheet, then one sheet per table.

Rates are written as numbers with a percentage format, so supervisors can sort and chart them
in Excel; the summary lines stay text.
"""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from gateway.reports.documents import Report


def write_xlsx(report: Report, path: Path) -> Path:
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": False})
    try:
        bold = workbook.add_format({"bold": True})
        title = workbook.add_format({"bold": True, "font_size": 14})
        pct = workbook.add_format({"num_format": "0.0%"})
        summary = workbook.add_worksheet("概要")
        summary.set_column(0, 0, 120)
        summary.write(0, 0, report.title, title)
        for n, line in enumerate(report.summary[1:], start=2):
            summary.write(n, 0, line)
        used: set[str] = {"概要"}
        for table in report.tables:
            name = table.title[:31]
            while name in used:
                name = name[:29] + str(len(used))
            used.add(name)
            sheet = workbook.add_worksheet(name)
            sheet.write(0, 0, table.title, title)
            for c, header in enumerate(table.headers):
                sheet.write(2, c, header, bold)
                sheet.set_column(c, c, max(8, min(30, 2 * len(header) + 2)))
            for r, row in enumerate(table.rows, start=3):
                for c, value in enumerate(row):
                    if value is None:
                        continue
                    if c in table.percent_columns:
                        sheet.write_number(r, c, float(value), pct)
                    else:
                        sheet.write(r, c, value)
            sheet.freeze_panes(3, 0)
    finally:
        workbook.close()
    return path
