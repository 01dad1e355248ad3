"""Each unit's leaders (主要领导, 分管领导): imported from CSV, read by the ladder."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.account_models import UnitLeader
from storage.models import Officer, Unit


def import_leaders(
    session: Session, rows: Iterable[tuple[int, dict[str, str]]], report: object
) -> None:
    """Load ``unit_code,police_number,role`` rows (see ``storage.units``); ``report`` is the
    import's ``ImportReport``."""
    from storage.units import LEADER_ROLE_WORDS

    units = {u.code: u for u in session.scalars(sa.select(Unit))}
    officers = {o.police_number: o for o in session.scalars(sa.select(Officer))}
    wanted: dict[int, set[tuple[int, str]]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for line, row in rows:
        if "__error__" in row:
            report.reject(line, row["__error__"])  # type: ignore[attr-defined]
            continue
        unit = units.get(row["unit_code"])
        officer = officers.get(row["police_number"])
        role = LEADER_ROLE_WORDS.get(row["role"].lower())
        if unit is None:
            problem = f"unit {row['unit_code']!r} is not in the registry"
        elif officer is None:
            problem = f"officer {row['police_number']!r} is not in the registry"
        elif role is None:
            problem = f"role {row['role']!r} is not one of {', '.join(LEADER_ROLE_WORDS)}"
        else:
            problem = ""
        key = (row["unit_code"], row["police_number"], role or "")
        if not problem and key in seen:
            problem = (
                f"leader {row['police_number']} of {row['unit_code']} already on line {seen[key]}"
            )
        if problem:
            report.reject(line, problem)  # type: ignore[attr-defined]
            continue
        seen[key] = line
        assert unit is not None and officer is not None and role is not None
        wanted.setdefault(unit.id, set()).add((officer.id, role))

    for unit_id, leaders in wanted.items():
        existing = {
            (r.officer_id, r.role): r
            for r in session.scalars(sa.select(UnitLeader).where(UnitLeader.unit_id == unit_id))
        }
        for key, row in existing.items():
            if key not in leaders:
                session.delete(row)
                report.updated += 1  # type: ignore[attr-defined]
        for officer_id, role in sorted(leaders):
            if (officer_id, role) in existing:
                report.unchanged += 1  # type: ignore[attr-defined]
            else:
                session.add(UnitLeader(unit_id=unit_id, officer_id=officer_id, role=role))
                report.created += 1  # type: ignore[attr-defined]
    session.flush()


def leaders_of(session: Session, unit_ids: Iterable[int]) -> dict[int, list[dict[str, str]]]:
    """unit id -> its leaders as ``{"police_number", "name", "role"}``, principal first."""
    ids = list(unit_ids)
    if not ids:
        return {}
    rows = session.execute(
        sa.select(UnitLeader.unit_id, UnitLeader.role, Officer.police_number, Officer.name)
        .join(Officer, Officer.id == UnitLeader.officer_id)
        .where(UnitLeader.unit_id.in_(ids))
        .order_by(UnitLeader.unit_id, UnitLeader.role.desc(), Officer.police_number)
    ).all()
    out: dict[int, list[dict[str, str]]] = {}
    for unit_id, role, number, name in rows:
        out.setdefault(unit_id, []).append({"police_number": number, "name": name, "role": role})
    return out
