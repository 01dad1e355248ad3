"""Every report kind builds from the in-memory store and renders as text, JSON, CSV and XLSX
with charts; the daily text fits a WeCom group message."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.reports import builders
from gateway.reports.periods import Period, period_of
from gateway.reports.produce import produce_and_archive, write_files
from gateway.reports.render_charts import cjk_font
from gateway.reports.render_text import as_text
from gateway.reports.settings import ReportSettings

from .memory import city, replies

SETTINGS = ReportSettings(min_sample=5)
NOW = datetime(2018, 6, 1, 1, tzinfo=UTC)


def read(path):
    return Path(path).read_text("utf-8")


@pytest.fixture
def store():
    s = city()
    for d in range(1, 31):
        day = date(2018, 5, d)
        s.facts += replies("HT01", day, 3, 0, basic=1)
        s.facts += replies("JC", day, 2, 1)
        s.facts += replies("CJ", day, 3, 0)
    # a comment gives its reason, marked inferred
    s.facts[-1] = replace(s.facts[-1], rating="unsatisfied", comment="态度很差，等了两个小时")
    s.facts += replies("JJ", date(2018, 4, 3), 5, 1)
    s.facts[-1] = replace(
        s.facts[-1],
        case_state="rectifying",
        case_substantiated=True,
        case_overdue=True,
        callback_status="manual",
        callback_overdue=True,
    )
    return s


def test_daily_text_for_wecom(store):
    report = builders.daily(store, None, period_of("day", date(2018, 5, 30)), SETTINGS)
    text = "\n".join(report.summary)
    assert report.summary[0] == "【短信评警日通报】2018年5月30日"
    assert "发送评警短信10条，回复10条" in text
    assert "不满意2条" in text  # JC's one and the commented one
    # the chase list counts every open overdue case and callback, whatever their events' day
    assert "目前回访超时未办1条，整改超期未办1件" in text
    assert "本月累计（5月1日至5月30日）" in text
    assert "本月目前满意率末位：江川分局" in text
    assert len(text.encode()) < 2048  # a WeCom robot text message takes 2,048 bytes


def test_monthly_report_ranks_proposes_and_charts(store, tmp_path):
    report = builders.monthly(store, None, period_of("month", date(2018, 5, 1)), SETTINGS, NOW)
    ranking = report.tables[0]
    assert [row[2] for row in ranking.rows][-1] in ("交警支队", "江川分局")
    assert any("江川分局：月度满意率末位约谈" in line for line in report.summary)
    assert store.interviews(None, "2018-05")  # the proposal is recorded
    files = write_files(report, tmp_path, ("xlsx",))
    names = {p.name for p in files}
    assert "month_2018-05.xlsx" in names
    assert "month_2018-05_ranking.svg" in names and "month_2018-05_trend.svg" in names
    if cjk_font():
        assert "month_2018-05_ranking.png" in names
    svg = (tmp_path / "month_2018-05_ranking.svg").read_text("utf-8")
    assert "红塔分局" in svg  # text kept as text
    with zipfile.ZipFile(tmp_path / "month_2018-05.xlsx") as book:
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "满意率排名" in strings and "江川分局" in strings


def test_quarterly_counts_reasons_with_inferred_ones(store):
    report = builders.quarterly(store, None, period_of("quarter", date(2018, 5, 1)), SETTINGS)
    by_unit = {row[0]: row for row in report.tables[0].rows}
    headers = report.tables[0].headers
    assert by_unit["CJ"][headers.index("服务态度")] == 1
    assert by_unit["CJ"][headers.index("其中短信推断")] == 1
    assert report.data["reasons"] == {"服务态度（短信推断）": 1}
    assert any("服务态度1条" in line for line in report.summary)
    officers = report.tables[3]
    assert [row[0] for row in officers.rows] == ["PJC"]  # 30 unsatisfied in the quarter


def test_weekly_annual_and_period_reports(store):
    week = builders.weekly(store, None, period_of("week", date(2018, 5, 9)), "HT", SETTINGS)
    assert [row[0] for row in week.tables[0].rows] == ["HT", "HT01"]
    year = builders.annual(store, None, period_of("year", date(2018, 1, 1)), SETTINGS)
    sheet = year.tables[0]
    assert sheet.headers[2] == "1月排名" and sheet.headers[-1] == "合计"
    span = Period("period", date(2018, 4, 1), date(2018, 6, 1))
    report = builders.period(store, None, span, None, SETTINGS)
    assert report.summary[1].startswith("发送评警短信 306 条，收到回复 306 条，回复率 100.0%")


def test_every_format_and_the_archive(store, tmp_path):
    produced = produce_and_archive(
        "period",
        store,
        None,
        Period("period", date(2018, 5, 1), date(2018, 6, 1)),
        SETTINGS,
        NOW,
        tmp_path,
        ("text", "json", "csv", "xlsx"),
    )
    fmts = sorted({f.fmt for f in produced.files})
    assert {"text", "json", "csv", "xlsx"} <= set(fmts)
    assert [f.id for f in store.archived(None, "period")] == [f.id for f in produced.files]
    text_file = next(f for f in produced.files if f.fmt == "text")
    assert read(text_file.path) == as_text(produced.report)
    data = json.loads(read(next(f.path for f in produced.files if f.fmt == "json")))
    assert data["data"]["figures"]["surveyed"] == 300
    csv_text = read(next(f.path for f in produced.files if f.fmt == "csv"))
    assert csv_text.startswith("\ufeff单位代码,单位,")
