"""Each scheduled report as a :class:`~gateway.reports.documents.Report`, built from a store.

daily: yesterday and the month so far, city-wide, short enough for a WeCom group.
weekly: one unit and its direct children (each sub-bureau's own notice).
monthly: the city-wide 通报 with the ranking, the 约谈 proposals and charts.
quarterly: why citizens were unsatisfied, by unit and category, against the previous quarter,
with the officers and businesses that came back more than once (月通报季分析).
annual: the year's ranking and the assessment sheet per unit.
period: any range, the seed's summary line first.
"""

from __future__ import annotations

from datetime import datetime

from gateway.reports import compute
from gateway.reports.consequences import KIND_LABELS
from gateway.reports.documents import Chart, Report, Table, figures_table
from gateway.reports.figures import Figures, percent
from gateway.reports.periods import Period, months_back, period_of
from gateway.reports.ranking import RankRow
from gateway.reports.reasons import REASONS, merged, reason_label
from gateway.reports.settings import ReportSettings
from gateway.reports.store import ReportStore, Tx

CITY = "全市"


def summary_line(f: Figures, settings: ReportSettings) -> str:
    """The seed's sentence: SMS sent, replies, reply rate, satisfied, unsatisfied, follow-up."""
    good = f.satisfied + f.basically_satisfied
    rate = percent(f.satisfaction_rate(settings.satisfaction))
    called = f.reached_ivr + f.reached_by_hand
    parts = [
        f"发送评警短信 {f.surveyed:,} 条",
        f"收到回复 {f.replies:,} 条",
        f"回复率 {percent(f.reply_rate)}",
        f"满意及基本满意 {good:,} 条（满意率 {rate}）",
        f"不满意 {f.unsatisfied:,} 条",
        f"已回访 {called:,} 条（{percent(called / f.callbacks_due if f.callbacks_due else None)}）",
    ]
    if f.cases_substantiated:
        parts.append(
            f"查证属实 {f.cases_substantiated:,} 件，已整改 {f.cases_rectified:,} 件"
            f"（整改率 {percent(f.rectification_rate)}）"
        )
    return "，".join(parts) + "。"


def _names(store: ReportStore, tx: Tx) -> dict[str, str]:
    return {u.code: u.name for u in store.units(tx)}


def ranking_table(rows: list[RankRow], title: str, settings: ReportSettings) -> Table:
    body = [
        [
            r.rank_label,
            r.unit_code,
            r.unit_name,
            r.sample,
            r.rate,
            None if r.interval is None else r.interval[0],
            None if r.interval is None else r.interval[1],
            r.figures.unsatisfied,
            "末位" if r.last else "",
        ]
        for r in rows
    ]
    headers = [
        "排名",
        "单位代码",
        "单位",
        "有效评价",
        "满意率",
        "置信下限",
        "置信上限",
        "不满意",
        "",
    ]
    return Table("ranking", title, headers, body, frozenset({4, 5, 6}))


def ranking_chart(rows: list[RankRow], title: str) -> Chart:
    ranked = [r for r in rows if r.rank is not None]
    return Chart(
        "ranking",
        "barh",
        title,
        [r.unit_name for r in ranked],
        {"满意率": [r.rate for r in ranked]},
        percent=True,
    )


def reasons_chart(reasons: dict[str, int], title: str, name: str = "reasons") -> Chart:
    counts = merged(reasons)
    return Chart(name, "bar", title, [REASONS[k] for k in counts], {"条数": list(counts.values())})


def reasons_table(rows: list[tuple[str, str, Figures]], title: str, name: str) -> Table:
    keys = list(REASONS)
    headers = ["代码", "名称", *(REASONS[k] for k in keys), "其中短信推断", "合计"]
    body = []
    for code, label, figs in rows:
        counts = merged(figs.reasons)
        inferred_n = sum(n for k, n in figs.reasons.items() if k.startswith("inferred:"))
        body.append([code, label, *(counts[k] for k in keys), inferred_n, sum(counts.values())])
    return Table(name, title, headers, body)


def daily(store: ReportStore, tx: Tx, day: Period, settings: ReportSettings) -> Report:
    city = compute.figures_of(store, tx, day, None, settings)
    month = period_of("month", day.first)
    so_far = Period("period", month.first, day.after)
    month_figs = compute.figures_of(store, tx, so_far, None, settings)
    late_calls, late_cases = store.overdue_now(tx, day.bounds(settings.zone)[1])
    rate = settings.satisfaction
    lines = [
        f"【短信评警日通报】{day.label}",
        f"发送评警短信{city.surveyed}条，回复{city.replies}条（回复率{percent(city.reply_rate)}），"
        f"满意{city.satisfied}条、基本满意{city.basically_satisfied}条、"
        f"不满意{city.unsatisfied}条，满意率{percent(city.satisfaction_rate(rate))}。",
        f"新增不满意{city.unsatisfied}条；目前回访超时未办{late_calls}条，"
        f"整改超期未办{late_cases}件。",
        f"本月累计（{month.first.month}月1日至{day.first.month}月{day.first.day}日）：发送"
        f"{month_figs.surveyed}条，回复{month_figs.replies}条，满意率"
        f"{percent(month_figs.satisfaction_rate(rate))}，不满意{month_figs.unsatisfied}条。",
    ]
    rows = compute.ranking(store, tx, so_far, settings)
    last = [r.unit_name for r in rows if r.last]
    if last:
        lines.append(f"本月目前满意率末位：{'、'.join(last)}。")
    return Report(
        "day",
        day,
        "",
        lines[0],
        lines,
        [figures_table("day", f"{day.label}评警情况", [("", CITY, city)], rate)],
        data={
            "day": city.as_dict(rate),
            "month_so_far": month_figs.as_dict(rate),
            "overdue_now": {"callbacks": late_calls, "cases": late_cases},
        },
    )


def weekly(
    store: ReportStore, tx: Tx, week: Period, unit_code: str | None, settings: ReportSettings
) -> Report:
    units = store.units(tx)
    code = unit_code or compute.root_code(units) or ""
    names = {u.code: u.name for u in units}
    children = [u.code for u in units if u.parent == code]
    start, end = week.bounds(settings.zone)
    figs = store.figures(tx, start, end, [code, *children])
    rows = [(code, names.get(code, code), figs[code])]
    rows += [(c, names[c], figs[c]) for c in children]
    title = f"{names.get(code, code)}短信评警周通报（{week.label}）"
    return Report(
        "week",
        week,
        code,
        title,
        [title, summary_line(figs[code], settings)],
        [figures_table("week", title, rows, settings.satisfaction)],
        data={"unit": figs[code].as_dict(settings.satisfaction)},
    )


def monthly(
    store: ReportStore, tx: Tx, month: Period, settings: ReportSettings, now: datetime
) -> Report:
    outcome = compute.record_month(store, tx, month, settings, now)
    city = compute.figures_of(store, tx, month, None, settings)
    title = f"短信评警工作通报（{month.label}）"
    lines = [title, summary_line(city, settings)]
    for p in outcome.proposals:
        name = next((r.unit_name for r in outcome.rows if r.unit_code == p.unit_code), p.unit_code)
        extra = f"，扣{p.deduction:g}分" if p.deduction else ""
        lines.append(f"{name}：{p.label}{extra}（待督察部门确认）。")
    trend_months = months_back(month, 6)
    trend: dict[str, list[float | None]] = {}
    for m in trend_months:
        for row in compute.ranking(store, tx, m, settings):
            trend.setdefault(row.unit_name, []).append(row.rate)
    ranking_rows = outcome.rows
    group_rows = [(r.unit_code, r.unit_name, r.figures) for r in ranking_rows]
    return Report(
        "month",
        month,
        "",
        title,
        lines,
        [
            ranking_table(ranking_rows, f"{month.label}满意率排名", settings),
            figures_table(
                "units", f"{month.label}各单位评警情况", group_rows, settings.satisfaction
            ),
            Table(
                "interviews",
                "约谈建议",
                ["单位代码", "类别", "约谈对象", "扣分", "连续末位月份"],
                [
                    [
                        p.unit_code,
                        KIND_LABELS[p.kind],
                        "、".join(p.interviewees),
                        p.deduction,
                        "、".join(p.months),
                    ]
                    for p in outcome.proposals
                ],
            ),
        ],
        [
            ranking_chart(ranking_rows, f"{month.label}满意率排名"),
            Chart(
                "trend",
                "line",
                "近六个月满意率走势",
                [m.key for m in trend_months],
                trend,
                percent=True,
            ),
            reasons_chart(dict(city.reasons), f"{month.label}不满意原因"),
        ],
        data={
            "city": city.as_dict(settings.satisfaction),
            "ranking": [
                {
                    "unit_code": r.unit_code,
                    "rank": r.rank,
                    "tied": r.tied,
                    "rate": r.rate,
                    "sample": r.sample,
                    "interval": r.interval,
                    "last": r.last,
                }
                for r in ranking_rows
            ],
            "proposals": [
                {"unit_code": p.unit_code, "kind": p.kind, "deduction": p.deduction}
                for p in outcome.proposals
            ],
        },
    )


def quarterly(store: ReportStore, tx: Tx, quarter: Period, settings: ReportSettings) -> Report:
    names = _names(store, tx)
    group = compute.ranking_group(store.units(tx), settings.ranking_group)
    codes = [u.code for u in group]
    start, end = quarter.bounds(settings.zone)
    now_figs = store.figures(tx, start, end, codes)
    before = quarter.previous()
    p_start, p_end = before.bounds(settings.zone)
    prev_figs = store.figures(tx, p_start, p_end, codes)
    city = compute.figures_of(store, tx, quarter, None, settings)
    rate = settings.satisfaction
    title = f"短信评警季度分析（{quarter.label}）"
    reason_rows = [(c, names[c], now_figs[c]) for c in codes]
    by_category = store.breakdown(tx, start, end, None, "category")
    by_business = store.breakdown(tx, start, end, None, "business")
    officers = [
        (num, name, f)
        for num, name, f in store.officer_figures(tx, start, end, None)
        if f.unsatisfied >= 2
    ]
    officers.sort(key=lambda row: (-row[2].unsatisfied, row[0]))
    repeated_business = [(k, k, f) for k, f in by_business if f.unsatisfied >= 2]
    trend_rows = []
    for c in codes:
        a, b = prev_figs[c].satisfaction_rate(rate), now_figs[c].satisfaction_rate(rate)
        trend_rows.append(
            [
                c,
                names[c],
                a,
                b,
                None if a is None or b is None else b - a,
                prev_figs[c].unsatisfied,
                now_figs[c].unsatisfied,
            ]
        )
    lines = [title, summary_line(city, settings)]
    top = sorted(merged(city.reasons).items(), key=lambda kv: -kv[1])
    if top and top[0][1]:
        lines.append(
            "群众不满意主要集中在："
            + "、".join(f"{REASONS[k]}{n}条" for k, n in top if n)
            + "（含短信留言推断）。"
        )
    return Report(
        "quarter",
        quarter,
        "",
        title,
        lines,
        [
            reasons_table(reason_rows, "各单位不满意原因", "reasons_by_unit"),
            reasons_table(
                [(k, k, f) for k, f in by_category], "各类业务不满意原因", "reasons_by_category"
            ),
            Table(
                "trend",
                f"与{before.label}对比",
                [
                    "单位代码",
                    "单位",
                    "上季度满意率",
                    "本季度满意率",
                    "变化",
                    "上季度不满意",
                    "本季度不满意",
                ],
                trend_rows,
                frozenset({2, 3, 4}),
            ),
            figures_table("officers", "多次被评不满意的民警", officers, rate, ("警号", "姓名")),
            figures_table(
                "businesses", "多次被评不满意的业务", repeated_business, rate, ("业务", "业务")
            ),
        ],
        [reasons_chart(dict(city.reasons), f"{quarter.label}不满意原因")],
        data={
            "city": city.as_dict(rate),
            "reasons": {reason_label(k): n for k, n in sorted(city.reasons.items())},
        },
    )


def annual(store: ReportStore, tx: Tx, year: Period, settings: ReportSettings) -> Report:
    names = _names(store, tx)
    sheets = compute.annual_sheets(store, tx, year, settings)
    rows = compute.ranking(store, tx, year, settings)
    city = compute.figures_of(store, tx, year, None, settings)
    title = f"短信评警年度考核（{year.label}）"
    months = [m.key for m in months_back(period_of("month", year.last), 12)]
    body = [
        [
            s.unit_code,
            names.get(s.unit_code, s.unit_code),
            *(s.monthly_ranks.get(m) for m in months),
            s.rank_points,
            -s.deductions,
            s.callback_points,
            s.rectification_points,
            s.total,
        ]
        for s in sorted(sheets, key=lambda s: -s.total)
    ]
    headers = [
        "单位代码",
        "单位",
        *(f"{int(m[5:])}月排名" for m in months),
        "排名得分",
        "扣分",
        "回访加减分",
        "整改加分",
        "合计",
    ]
    return Report(
        "year",
        year,
        "",
        title,
        [title, summary_line(city, settings)],
        [
            Table("assessment", "年度考核计分", headers, body),
            ranking_table(rows, f"{year.label}满意率排名", settings),
        ],
        [ranking_chart(rows, f"{year.label}满意率排名")],
        data={
            "city": city.as_dict(settings.satisfaction),
            "sheets": [{"unit_code": s.unit_code, "total": s.total} for s in sheets],
        },
    )


def period(
    store: ReportStore, tx: Tx, span: Period, unit_code: str | None, settings: ReportSettings
) -> Report:
    names = _names(store, tx)
    figs = compute.figures_of(store, tx, span, unit_code, settings)
    label = names.get(unit_code, CITY) if unit_code else CITY
    title = f"{label}短信评警情况（{span.label}）"
    rows = compute.ranking(store, tx, span, settings) if not unit_code else []
    tables = [
        figures_table("figures", title, [(unit_code or "", label, figs)], settings.satisfaction)
    ]
    if rows:
        tables.append(ranking_table(rows, "满意率排名", settings))
    return Report(
        "period",
        span,
        unit_code or "",
        title,
        [title, summary_line(figs, settings)],
        tables,
        data={"figures": figs.as_dict(settings.satisfaction)},
    )


BUILDERS = ("day", "week", "month", "quarter", "year", "period")
