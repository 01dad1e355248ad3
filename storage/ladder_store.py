"""The ladder's SQL: the period's substantiated cases and the units' leaders in, the pure
proposals (:mod:`gateway.cases.ladder`) out, with the decisions already recorded."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.accounts import permissions as perm
from gateway.cases import ladder
from gateway.cases import states as cs
from gateway.cases.settings import CaseSettings
from gateway.cases.store import CaseForbidden, CaseNotFound, CaseRefused
from storage import models as m
from storage.account_models import UnitLeader
from storage.case_models import Case, LadderDecision, case_officers
from storage.case_rows import UnitTable


def _substantiated(session: Session, period: ladder.Period) -> list[ladder.Substantiated]:
    rows = session.execute(
        sa.select(
            Case.id, m.Officer.police_number, m.Officer.name, m.Unit.code, Case.substantiated_at
        )
        .join(case_officers, case_officers.c.case_id == Case.id)
        .join(m.Officer, m.Officer.id == case_officers.c.officer_id)
        .join(m.Unit, m.Unit.id == m.Officer.unit_id)
        .where(
            Case.substantiated_at >= period.start,
            Case.substantiated_at < period.end,
            Case.state != cs.UNSUBSTANTIATED,
        )
    ).all()
    return [ladder.Substantiated(*row) for row in rows]


def _leaders(session: Session, unit_codes: set[str]) -> dict[str, list[ladder.Leader]]:
    if not unit_codes:
        return {}
    rows = session.execute(
        sa.select(m.Unit.code, m.Officer.police_number, m.Officer.name, UnitLeader.role)
        .join(UnitLeader, UnitLeader.unit_id == m.Unit.id)
        .join(m.Officer, m.Officer.id == UnitLeader.officer_id)
        .where(m.Unit.code.in_(sorted(unit_codes)))
        .order_by(m.Unit.code, UnitLeader.role.desc(), m.Officer.police_number)
    ).all()
    out: dict[str, list[ladder.Leader]] = {}
    for code, number, name, role in rows:
        out.setdefault(code, []).append(ladder.Leader(number, name, role))
    return out


def _decisions(session: Session, case_ids: set[int]) -> dict[tuple[str, str, int], dict[str, Any]]:
    if not case_ids:
        return {}
    rows = session.execute(
        sa.select(LadderDecision, m.Officer.police_number)
        .join(m.Officer, m.Officer.id == LadderDecision.officer_id)
        .where(LadderDecision.case_id.in_(sorted(case_ids)))
    ).all()
    return {
        (number, d.subject, d.case_id): {
            "decision": d.decision,
            "measure": d.measure,
            "reason": d.reason,
            "decided_by": d.decided_by,
            "decided_at": d.decided_at,
        }
        for d, number in rows
    }


def proposals(
    session: Session,
    person: Any,
    settings: CaseSettings,
    at: datetime,
    *,
    unit: str | None = None,
    officer: str | None = None,
    undecided: bool = False,
) -> dict[str, Any]:
    """The period's proposals that ``person`` may read (the officer's unit in scope)."""
    units = UnitTable(session)
    if not perm.may(person, perm.LADDER_READ):
        raise CaseForbidden(perm.may(person, perm.LADDER_READ).reason)
    period = ladder.period_of(settings.ladder_period, at, settings.zone)
    found = _substantiated(session, period)
    made = ladder.propose(found, _leaders(session, {f.unit_code for f in found}), period)
    decided = _decisions(session, {p.case_id for p in made})
    out = []
    for p in made:
        if not perm.check(person, perm.LADDER_READ, p.unit_code, units):
            continue
        if unit and not perm.within(p.unit_code, unit, units):
            continue
        if officer and officer not in (p.police_number, p.about):
            continue
        decision = decided.get(p.key)
        if undecided and decision is not None:
            continue
        record = asdict(p)
        record["case_ids"] = list(p.case_ids)
        record["proposed_text"] = ladder.MEASURES[p.proposed]
        record["decision"] = decision
        out.append(record)
    return {"period": period.label, "proposals": out}


def decide(
    session: Session,
    person: Any,
    settings: CaseSettings,
    *,
    case_id: int,
    police_number: str,
    subject: str,
    decision: str,
    measure: str | None,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Record an inspector's decision on one proposal; a second decision is refused."""
    if not perm.may(person, perm.LADDER_DECIDE):
        raise CaseForbidden(perm.may(person, perm.LADDER_DECIDE).reason)
    unit_of = session.scalar(
        sa.select(m.Unit.code)
        .join(m.Officer, m.Officer.unit_id == m.Unit.id)
        .where(m.Officer.police_number == police_number)
    )
    if unit_of is None:
        raise CaseNotFound(f"no officer {police_number!r}")
    allowed = perm.check(person, perm.LADDER_DECIDE, unit_of, UnitTable(session))
    if not allowed and subject == "officer":
        raise CaseForbidden(allowed.reason)
    try:
        decided_measure = ladder.check_decision(decision, measure, reason)
    except ladder.DecisionError as exc:
        raise CaseRefused(str(exc)) from None
    case = session.get(Case, case_id)
    if case is None or case.substantiated_at is None or case.state == cs.UNSUBSTANTIATED:
        raise CaseNotFound(f"case {case_id} is not a substantiated case")
    at = case.substantiated_at if settings.ladder_period == "year" else now
    listing = proposals(session, person, settings, at)
    match = [
        p
        for p in listing["proposals"]
        if (p["case_id"], p["police_number"], p["subject"]) == (case_id, police_number, subject)
    ]
    if not match:
        raise CaseNotFound(
            f"no {subject} proposal for {police_number} from case {case_id} in {listing['period']}"
        )
    proposal = match[0]
    units = UnitTable(session)
    allowed = perm.check(person, perm.LADDER_DECIDE, proposal["unit_code"], units)
    if not allowed:
        raise CaseForbidden(allowed.reason)
    if proposal["decision"] is not None:
        raise CaseRefused(
            f"already decided by {proposal['decision']['decided_by']}: "
            f"{proposal['decision']['decision']}"
        )
    ids = dict(
        session.execute(
            sa.select(m.Officer.police_number, m.Officer.id).where(
                m.Officer.police_number.in_([police_number, proposal["about"] or police_number])
            )
        ).all()
    )
    session.add(
        LadderDecision(
            officer_id=ids[police_number],
            subject=subject,
            case_id=case_id,
            about_officer_id=ids.get(proposal["about"]) if proposal["about"] else None,
            unit_id=units.id_of[proposal["unit_code"]],
            period=listing["period"],
            step=proposal["step"],
            proposed=proposal["proposed"],
            decision=decision,
            measure=decided_measure
            if decision == "changed"
            else (None if decision == "dismissed" else proposal["proposed"]),
            reason=reason,
            case_ids=proposal["case_ids"],
            decided_by=person.name[:64],
            decided_at=now,
        )
    )
    session.flush()
    proposal["decision"] = {
        "decision": decision,
        "measure": decided_measure if decision == "changed" else proposal["proposed"],
        "reason": reason,
        "decided_by": person.name,
        "decided_at": now,
    }
    if decision == "dismissed":
        proposal["decision"]["measure"] = None
    return proposal


class SqlLadderStore:
    def __init__(self, db: Any, settings: CaseSettings | None = None) -> None:
        self._db = db
        self.settings = settings or CaseSettings()

    def proposals(self, person: Any, at: datetime, **filters: Any) -> Any:
        return self._db.run(proposals, person, self.settings, at, **filters)

    def decide(self, person: Any, **fields: Any) -> Any:
        return self._db.run(decide, person, self.settings, **fields)
