"""Charts (ranking bars, monthly trend, reasons) on matplotlib's Agg canvas.

SVG keeps its text as text (``svg.fonttype = none``), so the Chinese labels render in any
browser that has a Chinese font, even when this machine has none; a PNG is written too when a
CJK font (Noto Sans CJK, else Noto Serif CJK, WenQuanYi, Source Han) is installed here, since
a PNG without one would show empty boxes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from gateway.reports.documents import Chart

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
)


def cjk_font() -> str | None:
    """The first installed CJK font family, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _figure(chart: Chart):
    # Figure, not pyplot: no global state, safe in the daemon's thread pool (Agg canvas)
    width = 10 if chart.kind == "line" else 8
    height = 4.5 if chart.kind == "line" else max(3.5, 0.35 * len(chart.labels) + 1.5)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(chart.title)
    if chart.kind == "barh":
        values = [v or 0.0 for v in next(iter(chart.series.values()), [])]
        positions = range(len(chart.labels))
        ax.barh(list(positions), values, color="#2b6cb0")
        ax.set_yticks(list(positions), chart.labels)
        ax.invert_yaxis()
        if values:
            low = min(values)
            ax.set_xlim(
                max(0.0, low - 0.05) if chart.percent else 0, 1.0 if chart.percent else None
            )
    elif chart.kind == "line":
        colours = matplotlib.colormaps["tab20"].colors
        for n, (name, values) in enumerate(chart.series.items()):
            ax.plot(
                chart.labels,
                [float("nan") if v is None else v for v in values],
                marker="o",
                label=name,
                color=colours[n % len(colours)],
            )
        if chart.series:  # beside the plot, not over the lines
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        for name, values in chart.series.items():
            ax.bar(chart.labels, [v or 0 for v in values], label=name, color="#c53030")
    if chart.percent:
        axis = ax.xaxis if chart.kind == "barh" else ax.yaxis
        axis.set_major_formatter(PercentFormatter(1.0))
    fig.tight_layout()
    return fig


def write_chart(chart: Chart, directory: Path, stem: str) -> list[Path]:
    """``<stem>_<chart>.svg`` always, and ``.png`` when a CJK font is installed."""
    font = cjk_font()
    params = {"svg.fonttype": "none", "axes.unicode_minus": False}
    if font:
        params["font.sans-serif"] = [font, "DejaVu Sans"]
        params["font.family"] = "sans-serif"
    out = []
    with matplotlib.rc_context(params):
        fig = _figure(chart)
        svg = directory / f"{stem}_{chart.name}.svg"
        fig.savefig(svg, format="svg")
        out.append(svg)
        if font:
            png = directory / f"{stem}_{chart.name}.png"
            fig.savefig(png, format="png", dpi=120)
            out.append(png)
    return out
