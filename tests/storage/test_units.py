"""The unit registry import: idempotent, updating, and loud about bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import migrate
from storage.db import Database
from storage.models import Officer, Unit
from storage.units import RegistryFormatError, import_file, subtree_ids, unit_tree_lines

REPO = Path(__file__).resolve().parents[2]
UNITS = (
    "code,name,kind,parent_code\nC,市局,city_bureau,\nS1,分局,sub_bureau,C\nP1,派出所,station,S1\n"
)


@pytest.fixture
def db(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'u.sqlite3'}"
    migrate.upgrade(url)
    database = Database(url)
    yield database
    database.stop()


def test_sample_files_load_cleanly_and_reimport_changes_nothing(db: Database) -> None:
    for name in ("units.csv", "officers.csv", "leaders.csv"):
        text = (REPO / "conf" / name).read_text(encoding="utf-8")
        first = db.run_sync(import_file, text, name)
        assert first.errors == [] and first.created > 0
        again = db.run_sync(import_file, text, name)
        assert (again.created, again.updated, again.errors) == (0, 0, [])
        assert again.unchanged == first.created


def test_changed_row_updates(db: Database) -> None:
    db.run_sync(import_file, UNITS, "u.csv")
    report = db.run_sync(import_file, UNITS.replace("派出所", "城北派出所"), "u.csv")
    assert (report.updated, report.unchanged) == (1, 2)
    assert db.run_sync(lambda s: s.scalar(sa.select(Unit.name).where(Unit.code == "P1"))) == (
        "城北派出所"
    )


def test_bad_rows_are_reported_by_line_and_good_rows_load(db: Database) -> None:
    text = UNITS + "X1,,station,S1\nX2,所,planet,S1\nX3,所,station,NOPE\nP2,二所,station,S1\n"
    report = db.run_sync(import_file, text, "u.csv")
    assert report.created == 4
    assert [e.split(": ", 1)[0] for e in report.errors] == ["u.csv:5", "u.csv:6", "u.csv:7"]
    assert "kind 'planet'" in report.errors[1]
    assert "NOPE is not known" in report.errors[2]


def test_parent_cycle_is_rejected(db: Database) -> None:
    text = "code,name,kind,parent_code\nA,a,station,B\nB,b,station,A\n"
    report = db.run_sync(import_file, text, "c.csv")
    assert report.created == 0 and len(report.errors) == 2
    assert "loops" in report.errors[0]


def test_officer_with_unknown_unit_is_rejected(db: Database) -> None:
    db.run_sync(import_file, UNITS, "u.csv")
    text = "police_number,name,unit_code\n001,张三,P1\n002,李四,ZZ\n003,,P1\n"
    report = db.run_sync(import_file, text, "o.csv")
    assert report.created == 1
    assert report.errors == [
        "o.csv:3: officer 002: unit 'ZZ' is not in the registry",
        "o.csv:4: officer 003: name is empty",
    ]
    assert db.run_sync(lambda s: s.scalar(sa.select(sa.func.count()).select_from(Officer))) == 1


def test_unknown_header_is_a_format_error(db: Database) -> None:
    with pytest.raises(RegistryFormatError, match="unknown header"):
        db.run_sync(import_file, "a,b\n1,2\n", "x.csv")


def test_tree_and_subtree(db: Database) -> None:
    db.run_sync(import_file, UNITS, "u.csv")
    assert db.run_sync(unit_tree_lines)[2].startswith("    P1  派出所")
    ids = db.run_sync(subtree_ids, "S1")
    codes = db.run_sync(lambda s: set(s.scalars(sa.select(Unit.code).where(Unit.id.in_(ids)))))
    assert codes == {"S1", "P1"}


def test_subtree_codes_cover_the_unit_and_below(db: Database) -> None:
    from storage.units import subtree_codes

    db.run_sync(import_file, UNITS, "u.csv")
    assert db.run_sync(subtree_codes, "S1") == {"S1", "P1"}
    assert db.run_sync(subtree_codes, "NOPE") == frozenset()
