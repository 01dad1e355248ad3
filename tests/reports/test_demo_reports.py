"""`make demo` ends with the day's WeCom text and the paths of the month's XLSX and charts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

from gateway.demo.reports import print_reports

from .sqlcity import build


def test_demo_closes_with_the_daily_text_and_the_months_files(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    build(url).stop()
    config = tmp_path / "pj.toml"
    config.write_text(
        f'[service]\ndata_dir = "{tmp_path}"\n[database]\nurl = "{url}"\n[smpp]\nsystem_id = "t"\n',
        "utf-8",
    )
    lines: list[str] = []
    print_reports(SimpleNamespace(config=config, out=tmp_path, day=date(2018, 5, 30)), lines.append)
    text = "\n".join(lines)
    assert "    【短信评警日通报】2018年5月30日" in lines
    paths = [Path(line.strip()) for line in lines if line.strip().startswith(str(tmp_path))]
    assert any(p.name == "month_2018-05.xlsx" for p in paths), text
    assert any(p.suffix == ".svg" for p in paths)
    assert all(p.exists() for p in paths)
