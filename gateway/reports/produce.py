"""Build a report of a kind and write its files: the one path the CLI, the schedule and the
API share. File writing is plain blocking I/O; the daemon runs it in the database thread."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.reports import builders
from gateway.reports.documents import Report
from gateway.reports.periods import Period
from gateway.reports.render_text import as_csv, as_json, as_text
from gateway.reports.settings import ReportSettings
from gateway.reports.store import ArchivedReport, ReportStore, Tx

FORMATS = ("text", "json", "csv", "xlsx")


def build(
    kind: str,
    store: ReportStore,
    tx: Tx,
    period: Period,
    settings: ReportSettings,
    now: datetime,
    unit_code: str | None = None,
) -> Report:
    if kind == "day":
        return builders.daily(store, tx, period, settings)
    if kind == "week":
        return builders.weekly(store, tx, period, unit_code, settings)
    if kind == "month":
        return builders.monthly(store, tx, period, settings, now)
    if kind == "quarter":
        return builders.quarterly(store, tx, period, settings)
    if kind == "year":
        return builders.annual(store, tx, period, settings)
    if kind == "period":
        return builders.period(store, tx, period, unit_code, settings)
    raise ValueError(f"unknown report kind {kind!r}")


def write_files(report: Report, directory: Path, formats: tuple[str, ...]) -> list[Path]:
    """The report's files in ``directory``; ``xlsx`` brings the charts along."""
    directory.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for fmt in formats:
        if fmt == "text":
            path = directory / f"{report.stem}.txt"
            path.write_text(as_text(report), "utf-8")
            out.append(path)
        elif fmt == "json":
            path = directory / f"{report.stem}.json"
            path.write_text(as_json(report), "utf-8")
            out.append(path)
        elif fmt == "csv":
            for table in report.tables:
                path = directory / f"{report.stem}_{table.name}.csv"
                path.write_text(as_csv(table), "utf-8")
                out.append(path)
        elif fmt == "xlsx":
            from gateway.reports.render_xlsx import write_xlsx

            out.append(write_xlsx(report, directory / f"{report.stem}.xlsx"))
            if report.charts:  # matplotlib is imported only when there is something to draw
                from gateway.reports.render_charts import write_chart

                for chart in report.charts:
                    out.extend(write_chart(chart, directory, report.stem))
        else:
            raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return out


def fmt_of(path: Path) -> str:
    return {".txt": "text"}.get(path.suffix, path.suffix.lstrip("."))


@dataclass(frozen=True, slots=True)
class Produced:
    report: Report
    files: list[ArchivedReport]


def produce_and_archive(
    kind: str,
    store: ReportStore,
    tx: Tx,
    period: Period,
    settings: ReportSettings,
    now: datetime,
    directory: Path,
    formats: tuple[str, ...] = ("text", "json", "xlsx"),
    unit_code: str | None = None,
) -> Produced:
    """Build, write and record every file in the archive (the schedule's and the API's path)."""
    report = build(kind, store, tx, period, settings, now, unit_code)
    target = directory / kind / period.key
    archived = []
    for path in write_files(report, target, formats):
        data = path.read_bytes()
        archived.append(
            store.archive(
                tx,
                ArchivedReport(
                    0,
                    kind,
                    period.key,
                    report.unit_code,
                    fmt_of(path),
                    str(path),
                    len(data),
                    hashlib.sha256(data).hexdigest(),
                    now,
                ),
            )
        )
    return Produced(report, archived)
