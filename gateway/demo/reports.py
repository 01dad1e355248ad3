"""The demo's last words: the day's WeCom notice and the month's workbook and charts.

Produced exactly as the daemon's schedule produces them (``produce_and_archive``: built from
the database, written under ``<demo>/reports/`` and recorded in the archive the API lists).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def print_reports(run: Any, say: Callable[[str], None]) -> None:
    from gateway.config import load_settings
    from gateway.reports.periods import period_of
    from gateway.reports.produce import produce_and_archive
    from gateway.reports.render_text import as_text
    from gateway.reports.settings import ReportSettings
    from storage.db import Database
    from storage.report_store import SqlReportStore

    settings = load_settings(run.config)
    reports = getattr(settings, "reports", None) or ReportSettings()
    directory = Path(reports.archive_dir or run.out / "reports")
    store = SqlReportStore()
    now = datetime.now(UTC)
    db = Database(settings.database_url)
    try:
        daily = db.run_sync(
            lambda tx: produce_and_archive(
                "day", store, tx, period_of("day", run.day), reports, now, directory, ("text",)
            )
        )
        monthly = db.run_sync(
            lambda tx: produce_and_archive(
                "month",
                store,
                tx,
                period_of("month", run.day),
                reports,
                now,
                directory,
                ("xlsx",),
            )
        )
    finally:
        db.stop()
    say("")
    say("The daily notice for the WeCom group (日通报):")
    for line in as_text(daily.report, tables=False).splitlines():
        say(f"    {line}")
    say(f"The month's report (月通报), workbook and charts, in {directory}/:")
    for f in monthly.files:
        say(f"    {f.path}")
