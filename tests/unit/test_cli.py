"""The `pingjing` command line: configuration, schema and registry commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    secret = tmp_path / "smpp.secret"
    secret.write_text("hunter2\n")
    path = tmp_path / "pingjing.toml"
    path.write_text(
        f'[service]\ndata_dir = "{tmp_path}"\n'
        f'[smpp]\nsystem_id = "pingjing"\npassword_file = "{secret}"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("PINGJING_CONFIG", raising=False)
    return path


def test_config_show_redacts_secrets(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["smpp"]["password"] == "********"
    assert "hunter2" not in out


def test_broken_config_exits_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[smpp]\nsystem_id = "x"\nport = "twenty"\n')
    assert main(["config", "check", "--config", str(path)]) == 78
    err = capsys.readouterr().err.strip()
    assert err == (
        f"pingjing: configuration error: {path}: smpp.port: expected an integer, got 'twenty'"
    )


def test_db_upgrade_reports_the_revision(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "(up to date)" in capsys.readouterr().out


def test_units_import_reports_bad_rows_and_keeps_good_ones(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units.csv"
    units.write_text(
        "code,name,kind,parent_code\nC,市局,city_bureau,\nS,分局,galaxy,C\nP,派出所,station,C\n",
        encoding="utf-8",
    )
    assert main(["units", "import", "--config", str(config), str(units)]) == 1
    captured = capsys.readouterr()
    assert f"{units}:3: unit S: kind 'galaxy'" in captured.err
    assert "2 created" in captured.out
    assert main(["units", "list", "--config", str(config)]) == 0
    assert "  P  派出所  [station]" in capsys.readouterr().out


def test_units_import_of_a_missing_file(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["units", "import", "--config", str(config), "/nonexistent.csv"]) == 1
    assert "/nonexistent.csv: cannot read" in capsys.readouterr().err


def test_twistd_finds_the_plugin() -> None:
    from twisted.plugin import IPlugin, getPlugins

    import twisted.plugins

    names = [getattr(p, "tapname", None) for p in getPlugins(IPlugin, twisted.plugins)]
    assert "pingjing" in names
