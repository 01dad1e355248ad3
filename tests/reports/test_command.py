"""``pingjing report``: every kind prints, writes files, archives; 约谈 records are listed and
decided from the command line."""

from __future__ import annotations

import json

import pytest

from gateway.cli import main

from .sqlcity import build


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmd")
    url = f"sqlite:///{root / 'r.sqlite3'}"
    build(url).stop()
    path = root / "pj.toml"
    path.write_text(
        f'[service]\ndata_dir = "{root}"\n[database]\nurl = "{url}"\n[smpp]\nsystem_id = "t"\n'
        "[reports]\nmin_sample = 5\n",
        "utf-8",
    )
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_period_prints_the_summary_line(config, capsys):
    code, out, _ = run(
        capsys, "report", "period", "--config", config, "--from", "2018-05-01", "--to", "2018-06-30"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "全市短信评警情况（2018年5月1日至2018年6月30日）"
    assert lines[1].startswith("发送评警短信 400 条，收到回复 ")


def test_monthly_json_and_xlsx(config, capsys, tmp_path):
    code, out, _ = run(
        capsys, "report", "monthly", "--config", config, "--date", "2018-05-20", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["period"]["key"] == "2018-05" and data["data"]["ranking"]
    code, out, _ = run(
        capsys,
        "report",
        "monthly",
        "--config",
        config,
        "--date",
        "2018-05-20",
        "--format",
        "xlsx",
        "--out",
        str(tmp_path),
    )
    assert code == 0
    paths = out.split()
    assert str(tmp_path / "month_2018-05.xlsx") in paths
    assert any(p.endswith("_ranking.svg") for p in paths)


def test_archive_and_interviews(config, capsys):
    code, out, _ = run(
        capsys, "report", "monthly", "--config", config, "--date", "2018-06-02", "--archive"
    )
    assert code == 0 and any(p.endswith(".xlsx") for p in out.split())
    code, out, _ = run(capsys, "report", "interviews", "--config", config, "--month", "2018-06")
    assert code == 0
    first = out.splitlines()[0].split("\t")
    assert first[1] == "2018-06" and first[-1] == "proposed"
    code, out, _ = run(
        capsys, "report", "decide", first[0], "confirmed", "--config", config, "--actor", "督察支队"
    )
    assert code == 0 and out.split()[-1] == "confirmed"
    code, _, err = run(
        capsys, "report", "decide", "9999", "confirmed", "--config", config, "--actor", "x"
    )
    assert code == 1 and "no 约谈 record 9999" in err


def test_bad_arguments(config, capsys):
    code, _, err = run(capsys, "report", "daily", "--config", config, "--format", "xlsx")
    assert code == 2 and "--out" in err
    code, _, err = run(
        capsys,
        "report",
        "period",
        "--config",
        config,
        "--from",
        "2018-05-01",
        "--to",
        "2018-05-02",
        "--unit",
        "NOPE",
    )
    assert code == 2 and "NOPE" in err
    code, _, err = run(capsys, "report", "monthly", "--config", config, "--unit", "530402000000")
    assert code == 2 and "--unit is for" in err
    with pytest.raises(SystemExit, match="needs --from and --to"):
        main(["report", "period", "--config", config])
