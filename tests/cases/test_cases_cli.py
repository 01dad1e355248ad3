"""`pingjing cases ...`: the loop from the command line, as named users."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main

REPO = Path(__file__).resolve().parents[2]
STATION, BUREAU = "530402501000", "530402000000"


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
    files = [str(REPO / "conf" / n) for n in ("units.csv", "officers.csv", "leaders.csv")]
    assert main(["units", "import", "--config", str(path), *files]) == 0
    for name, unit, role in (
        ("du", "530400000000", "inspector"),
        ("zheng", BUREAU, "handler"),
    ):
        assert (
            main(
                [
                    "users",
                    "add",
                    name,
                    "--config",
                    str(path),
                    "--full-name",
                    name,
                    "--unit",
                    unit,
                    "--role",
                    role,
                    "--no-password",
                ]
            )
            == 0
        )
    return path


def cases(config: Path, *args: str) -> int:
    return main(["cases", args[0], "--config", str(config), *args[1:]])


def test_the_loop_from_the_command_line(config: Path, tmp_path: Path, capsys) -> None:
    assert (
        cases(
            config,
            "open",
            "--as",
            "du",
            "--unit",
            STATION,
            "--complaint",
            "态度差",
            "--phone",
            "13812345678",
            "--consent",
        )
        == 0
    )
    assert f"handled by {BUREAU}" in capsys.readouterr().out
    assert cases(config, "verify", "1", "--as", "du") == 0
    assert (
        cases(
            config,
            "verify",
            "1",
            "--as",
            "du",
            "--substantiated",
            "--officers",
            "100015",
            "--finding",
            "接待群众态度生硬",
        )
        == 0
    )
    evidence = tmp_path / "谈话记录.txt"
    evidence.write_text("已谈话", encoding="utf-8")
    assert (
        cases(
            config,
            "rectify",
            "1",
            "--as",
            "zheng",
            "--measure",
            "谈话提醒",
            "--evidence",
            str(evidence),
            "--submit",
        )
        == 0
    )
    assert cases(config, "review", "1", "--as", "du", "--return", "--reason", "材料不全") == 0
    assert cases(config, "rectify", "1", "--as", "zheng", "--measure", "补充材料", "--submit") == 0
    capsys.readouterr()
    assert cases(config, "review", "1", "--as", "zheng", "--accept") == 1
    assert "handler" in capsys.readouterr().err
    assert cases(config, "review", "1", "--as", "du", "--accept", "--expect-version", "2") == 1
    assert "changed since you read it" in capsys.readouterr().err
    assert cases(config, "review", "1", "--as", "du", "--accept") == 0
    capsys.readouterr()
    assert cases(config, "list", "--format", "jsonl") == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["state"], row["returns"], row["unit"]) == ("closed", 1, BUREAU)
    assert cases(config, "show", "1") == 0
    shown = capsys.readouterr().out
    assert "退回" not in shown and "return: under_review → rectifying — 材料不全" in shown
    assert "谈话记录.txt" in shown


def test_an_unknown_user_and_a_forbidden_transition_are_reported(config: Path, capsys) -> None:
    assert cases(config, "open", "--as", "nobody", "--unit", STATION, "--complaint", "x") == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    assert cases(config, "open", "--as", "du", "--unit", STATION, "--complaint", "x") == 0
    assert cases(config, "review", "1", "--as", "du", "--accept") == 1
    assert "not possible now" in capsys.readouterr().err


def test_ladder_list_and_decide(config: Path, capsys) -> None:
    assert cases(config, "open", "--as", "du", "--unit", STATION, "--complaint", "态度差") == 0
    assert cases(config, "verify", "1", "--as", "du") == 0
    assert (
        cases(
            config,
            "verify",
            "1",
            "--as",
            "du",
            "--substantiated",
            "--officers",
            "100017",
            "--finding",
            "属实",
        )
        == 0
    )
    capsys.readouterr()
    assert main(["ladder", "list", "--config", str(config), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["subject"], r["police_number"], r["proposed"]) for r in rows] == [
        ("officer", "100017", "notice"),
        ("principal", "100015", "accountability"),
        ("deputy", "100016", "accountability"),
    ]
    decide = ["ladder", "decide", "--config", str(config), "--case", "1", "--officer", "100017"]
    assert main([*decide, "--as", "zheng"]) == 1
    assert main([*decide, "--as", "du", "--decision", "dismissed"]) == 1
    assert "reason" in capsys.readouterr().err
    assert main([*decide, "--as", "du"]) == 0
    assert "as_proposed, measure notice" in capsys.readouterr().out
    assert main(["ladder", "list", "--config", str(config), "--undecided"]) == 0
    left = [line.split("\t")[2] for line in capsys.readouterr().out.splitlines()]
    assert left == ["principal", "deputy"]  # the officer's proposal is decided


def test_manual_callbacks_from_the_command_line(config: Path, tmp_path: Path, capsys) -> None:
    import sqlalchemy as sa

    from storage import models as m
    from storage.db import Database
    from tests.callbacks.conftest import add_task

    db = Database(f"sqlite:///{tmp_path / 'pingjing.sqlite3'}")
    try:
        task_id = db.run_sync(
            lambda s: (
                add_task(
                    s,
                    s.scalar(sa.select(m.Unit).where(m.Unit.code == STATION)),
                    "13800000001",
                    status="manual",
                ).id
            )
        )
    finally:
        db.stop()
    base = ["callbacks", "manual"]
    capsys.readouterr()
    assert main([*base, "list", "--config", str(config), "--as", "du", "--format", "jsonl"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["callback_id"], row["status"]) == (task_id, "manual")
    record = [*base, "record", str(task_id), "--config", str(config), "--as", "du"]
    assert main([*record, "--unreachable", "--notes", "关机"]) == 0
    assert main([*record, "--reached", "--reason-key", "2", "--consent"]) == 0
    assert f"callback {task_id}: reached by hand" in capsys.readouterr().out
    assert main([*base, "sweep", "--config", str(config)]) == 0
