"""The console's Excel export: one sheet, a bold header, with XlsxWriter (the reports' writer)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any


def workbook(header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "导出") -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(
        out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    page = book.add_worksheet(sheet)
    page.write_row(0, 0, list(header), book.add_format({"bold": True}))
    for r, row in enumerate(rows, start=1):
        values = [("是" if v else "否") if isinstance(v, bool) else v for v in row]
        page.write_row(r, 0, ["" if v is None else v for v in values])
    page.freeze_panes(1, 0)
    book.close()
    return out.getvalue()
