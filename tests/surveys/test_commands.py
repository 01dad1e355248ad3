"""The command-line doors: ``events import``, ``replies classify``, ``export surveys``."""

import io
import json
from datetime import UTC, datetime

import pytest

from gateway.cli import main
from gateway.commands.replies import classify_stream


@pytest.fixture
def config(tmp_path):
    """A configuration on SQLite in tmp_path, with the unit tree and officers loaded."""
    path = tmp_path / "pj.toml"
    path.write_text(
        f'[service]\ndata_dir = "{tmp_path / "var"}"\n[smpp]\nsystem_id = "x"\npassword = "y"\n',
        encoding="utf-8",
    )
    units = tmp_path / "units.csv"
    units.write_text(
        "code,name,kind,parent_code\n3301,某某市公安局,city_bureau,\n"
        "330102001,城关派出所,station,3301\n330103001,湖滨派出所,station,3301\n",
        encoding="utf-8",
    )
    officers = tmp_path / "officers.csv"
    officers.write_text(
        "police_number,name,unit_code\nP001,王警官,330102001\nP100,赵警官,330103001\n",
        encoding="utf-8",
    )
    assert main(["units", "import", "--config", str(path), str(units), str(officers)]) == 0
    return path


def now_local():
    return datetime.now(UTC).astimezone().replace(microsecond=0).isoformat()


def line(event_id, **changes):
    data = {
        "event_id": event_id,
        "category": "window",
        "business": "户籍办理",
        "unit_code": "330102001",
        "officer_ids": ["P001"],
        "citizen_phone": "13812345678",
        "occurred_at": now_local(),
    }
    data.update(changes)
    return json.dumps(data, ensure_ascii=False)


def test_import_jsonl_prints_counts_and_writes_rejects_beside_input(config, tmp_path, capsys):
    """Accepted, duplicate and rejected are counted; each reject is kept with its reason."""
    events = tmp_path / "events.jsonl"
    unknown_unit = line("F-3", unit_code="9")
    events.write_text(
        "\n".join(
            [
                line("F-1"),
                line("F-1"),
                line("F-2", category="交通"),
                "{oops",
                unknown_unit,
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    assert main(["events", "import", "--config", str(config), str(events)]) == 1
    out = capsys.readouterr().out
    assert "1 accepted, 1 duplicate, 3 rejected" in out
    rejects = [
        json.loads(r) for r in (tmp_path / "events.jsonl.rejected.jsonl").read_text().splitlines()
    ]
    assert [r["line"] for r in rejects] == [3, 4, 5]
    assert "交通" in rejects[0]["reason"] and "not JSON" in rejects[1]["reason"]
    assert rejects[2]["input"] == unknown_unit


def test_import_csv_with_list_cells(config, tmp_path, capsys):
    events = tmp_path / "events.csv"
    events.write_text(
        "event_id,category,unit_code,officer_ids,citizen_phone,occurred_at,tags\n"
        f"C-1,接处警,330102001,P001,+86 139-0000-0000,{now_local()},arrest\n"
        f"C-2,incident,330102001,P001,13700000000,{now_local()},juvenile;arrest\n",
        encoding="utf-8",
    )
    assert main(["events", "import", "--config", str(config), str(events)]) == 0
    out = capsys.readouterr().out
    assert "2 accepted, 0 duplicate, 0 rejected" in out
    assert "selected 1" in out and "sensitive_category 1" in out


def test_export_surveys_masks_phones_and_filters_by_unit(config, tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    events.write_text(
        line("F-1") + "\n" + line("F-2", unit_code="330103001", officer_ids=["P100"]) + "\n",
        encoding="utf-8",
    )
    main(["events", "import", "--config", str(config), str(events)])
    capsys.readouterr()
    assert main(["export", "surveys", "--config", str(config), "--unit", "330102001"]) == 0
    [record] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert record["event_id"] == "F-1"
    assert record["phone"] == "138****5678"
    assert (record["decision"], record["status"]) == ("selected", "pending")
    assert main(["export", "surveys", "--config", str(config), "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0].startswith("event_id,category,unit_code,phone,decision,status")
    assert len(csv_lines) == 3


def test_export_with_unknown_unit_or_bad_date_is_an_error(config, capsys):
    assert main(["export", "surveys", "--config", str(config), "--unit", "77"]) == 2
    assert "'77' does not exist" in capsys.readouterr().err
    assert main(["export", "surveys", "--config", str(config), "--from", "yesterday"]) == 2
    assert "--from" in capsys.readouterr().err


def test_replies_classify_prints_one_json_object_per_line():
    out = io.StringIO()
    assert classify_stream(io.StringIO("1\n不满意，太慢\nTD\n12\n"), out) == 4
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert rows[0] == {"text": "1", "rating": "satisfied", "comment": None, "opt_out": False}
    assert rows[1]["rating"] == "unsatisfied" and rows[1]["comment"] == "太慢"
    assert rows[2]["opt_out"] is True
    assert rows[3]["rating"] == "unknown"
