"""The unit registry: units (a tree) and officers, imported from CSV files.

Two CSV layouts, told apart by their header line (UTF-8, with or without a BOM):

* units:    ``code,name,kind,parent_code`` (``parent_code`` empty for the city bureau)
* officers: ``police_number,name,unit_code``
* leaders:  ``unit_code,police_number,role``, role ``principal`` (主要领导) or ``deputy``
  (分管领导), the Chinese words accepted too; the officer must be in the registry. The rows
  of a unit are its whole list of leaders: a leader no longer listed for a unit mentioned in
  the file is removed (units the file does not mention keep theirs).

An import is idempotent: unchanged rows change nothing, changed rows are updated, and a bad row is
reported with its line number while every good row still loads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.models import UNIT_KINDS, Officer, Unit

UNIT_COLUMNS = ("code", "name", "kind", "parent_code")
OFFICER_COLUMNS = ("police_number", "name", "unit_code")
LEADER_COLUMNS = ("unit_code", "police_number", "role")
LEADER_ROLE_WORDS = {
    "principal": "principal",
    "主要领导": "principal",
    "deputy": "deputy",
    "分管领导": "deputy",
}


@dataclass
class ImportReport:
    source: str
    kind: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, line: int, problem: str) -> None:
        self.errors.append(f"{self.source}:{line}: {problem}")

    def summary(self) -> str:
        return (
            f"{self.source}: {self.kind}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.errors)} rejected"
        )


class RegistryFormatError(ValueError):
    """The file as a whole cannot be read (wrong header, not UTF-8)."""


def read_rows(text: str, source: str) -> tuple[str, Iterator[tuple[int, dict[str, str]]]]:
    """Identify the layout from the header and yield ``(line_number, row)`` pairs."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RegistryFormatError(f"{source}: the file is empty") from None
    if tuple(header) == UNIT_COLUMNS:
        kind = "units"
    elif tuple(header) == OFFICER_COLUMNS:
        kind = "officers"
    elif tuple(header) == LEADER_COLUMNS:
        kind = "leaders"
    else:
        raise RegistryFormatError(
            f"{source}:1: unknown header {','.join(header)!r}; expected "
            f"{','.join(UNIT_COLUMNS)!r} (units), {','.join(OFFICER_COLUMNS)!r} (officers) "
            f"or {','.join(LEADER_COLUMNS)!r} (leaders)"
        )

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield line, {"__error__": f"expected {len(header)} columns, found {len(values)}"}
                continue
            yield line, {k: v.strip() for k, v in zip(header, values, strict=True)}

    return kind, rows()


def import_file(session: Session, text: str, source: str) -> ImportReport:
    kind, rows = read_rows(text, source)
    report = ImportReport(source, kind)
    if kind == "units":
        _import_units(session, rows, report)
    elif kind == "leaders":
        from storage.unit_leaders import import_leaders

        import_leaders(session, rows, report)
    else:
        _import_officers(session, rows, report)
    return report


def _import_units(
    session: Session, rows: Iterable[tuple[int, dict[str, str]]], report: ImportReport
) -> None:
    existing = {u.code: u for u in session.scalars(sa.select(Unit))}
    wanted: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in rows:
        if "__error__" in row:
            report.reject(line, row["__error__"])
            continue
        problem = _unit_problem(row)
        if problem:
            report.reject(line, problem)
        elif row["code"] in wanted:
            report.reject(
                line, f"unit {row['code']} already given on line {wanted[row['code']][0]}"
            )
        else:
            wanted[row["code"]] = (line, row)

    # A parent must be a known unit (in the database or in this file) and the tree must stay a
    # tree: walk each chain of parents and reject rows that lead nowhere or in a circle.
    accepted: dict[str, tuple[int, dict[str, str]]] = {}
    for code, (line, row) in wanted.items():
        seen, cursor, problem = {code}, row["parent_code"], ""
        while cursor:
            if cursor in seen:
                problem = f"parent chain of {code} loops through {cursor}"
                break
            seen.add(cursor)
            if cursor in wanted:
                cursor = wanted[cursor][1]["parent_code"]
            elif cursor in existing:
                parent = existing[cursor].parent
                cursor = parent.code if parent else ""
            else:
                problem = f"parent unit {cursor} is not known (not in this file or the registry)"
                break
        if problem:
            report.reject(line, problem)
        else:
            accepted[code] = (line, row)

    units = dict(existing)
    for code, (_, row) in accepted.items():
        unit = units.get(code)
        if unit is None:
            unit = Unit(code=code, name=row["name"], kind=row["kind"])
            session.add(unit)
            units[code] = unit
            report.created += 1
        elif (unit.name, unit.kind) != (row["name"], row["kind"]) or _parent_code(unit) != row[
            "parent_code"
        ]:
            unit.name, unit.kind = row["name"], row["kind"]
            report.updated += 1
        else:
            report.unchanged += 1
    for code, (_, row) in accepted.items():
        parent = units[row["parent_code"]] if row["parent_code"] else None
        if units[code].parent is not parent:
            units[code].parent = parent
    session.flush()


def _parent_code(unit: Unit) -> str:
    return unit.parent.code if unit.parent else ""


def _unit_problem(row: dict[str, str]) -> str:
    if not row["code"]:
        return "code is empty"
    if len(row["code"]) > 32:
        return f"code {row['code']!r} is longer than 32 characters"
    if not row["name"]:
        return f"unit {row['code']}: name is empty"
    if row["kind"] not in UNIT_KINDS:
        return f"unit {row['code']}: kind {row['kind']!r} is not one of {', '.join(UNIT_KINDS)}"
    if row["parent_code"] == row["code"]:
        return f"unit {row['code']} cannot be its own parent"
    return ""


def _import_officers(
    session: Session, rows: Iterable[tuple[int, dict[str, str]]], report: ImportReport
) -> None:
    units = {u.code: u for u in session.scalars(sa.select(Unit))}
    officers = {o.police_number: o for o in session.scalars(sa.select(Officer))}
    seen: dict[str, int] = {}
    for line, row in rows:
        if "__error__" in row:
            report.reject(line, row["__error__"])
            continue
        number, name, unit_code = row["police_number"], row["name"], row["unit_code"]
        if not number:
            report.reject(line, "police_number is empty")
            continue
        if number in seen:
            report.reject(line, f"officer {number} already given on line {seen[number]}")
            continue
        if not name:
            report.reject(line, f"officer {number}: name is empty")
            continue
        unit = units.get(unit_code)
        if unit is None:
            report.reject(line, f"officer {number}: unit {unit_code!r} is not in the registry")
            continue
        seen[number] = line
        officer = officers.get(number)
        if officer is None:
            session.add(Officer(police_number=number, name=name, unit=unit))
            report.created += 1
        elif (officer.name, officer.unit_id) != (name, unit.id):
            officer.name, officer.unit = name, unit
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()


def unit_tree_lines(session: Session) -> list[str]:
    """The registry as an indented tree, one unit per line, with its officer count."""
    units = list(session.scalars(sa.select(Unit).order_by(Unit.code)))
    counts = dict(
        session.execute(sa.select(Officer.unit_id, sa.func.count()).group_by(Officer.unit_id)).all()
    )
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    lines: list[str] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for unit in children.get(parent_id, []):
            officers = counts.get(unit.id, 0)
            lines.append(
                f"{'  ' * depth}{unit.code}  {unit.name}  [{unit.kind}]  {officers} officers"
            )
            walk(unit.id, depth + 1)

    walk(None, 0)
    return lines


def subtree_ids(session: Session, code: str) -> list[int]:
    """Ids of the unit with ``code`` and every unit below it (for scoped queries)."""
    root = session.scalar(sa.select(Unit.id).where(Unit.code == code))
    if root is None:
        return []
    pairs = session.execute(sa.select(Unit.id, Unit.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for uid, parent in pairs:
        children.setdefault(parent, []).append(uid)
    out, stack = [], [root]
    while stack:
        uid = stack.pop()
        out.append(uid)
        stack.extend(children.get(uid, []))
    return out


def subtree_codes(session: Session, code: str) -> frozenset[str]:
    """Codes of the unit with ``code`` and every unit below it (empty when it is unknown)."""
    ids = subtree_ids(session, code)
    if not ids:
        return frozenset()
    return frozenset(session.scalars(sa.select(Unit.code).where(Unit.id.in_(ids))))
