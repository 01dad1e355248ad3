"""The demo's supervision part: the inspectorate works the cases the day opened.

After the simulated day the demo plays the people: the city inspectorate (督察) verifies each
case, the handling unit's responsible officer rectifies, the inspectorate reviews. Some cases
are substantiated and closed, one is returned once (退回) before it closes, one is found
unsubstantiated, the rest stay open for the inbox; the manual callback list is worked by hand;
the ladder shows its proposals. Everything goes through the same functions as
``pingjing cases``/``ladder``/``callbacks manual`` and the API (permissions included).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

INSPECTOR = "dc.city"


def _users(session: Any, case_units: set[str]) -> dict[str, Any]:
    from gateway.accounts.model import Role
    from gateway.accounts.store import NewUser
    from storage import models as m
    from storage import user_store

    root = session.scalar(sa.select(m.Unit.code).where(m.Unit.parent_id.is_(None)))
    people = {
        "inspector": user_store.add_user(
            session, NewUser(INSPECTOR, "市局督察", root, Role.INSPECTOR)
        )
    }
    for code in sorted(case_units):
        people[code] = user_store.add_user(
            session, NewUser(f"zg.{code}", f"整改责任人{code[-6:]}", code, Role.HANDLER)
        )
    return people


def work(session: Any, settings: Any, say: Callable[[str], None]) -> dict[str, Any]:
    """Work the open cases; returns what the summary prints."""
    from gateway.callbacks.manual import ManualCallRecord
    from gateway.cases import lifecycle as lc
    from storage import case_store, ladder_store, manual_calls
    from storage.case_models import Case
    from storage.case_rows import UnitTable
    from storage.models import Officer, OutboundMessage

    rows = session.execute(sa.select(Case.id, Case.unit_id).order_by(Case.id)).all()
    if not rows:
        return {"cases": 0}
    units = UnitTable(session)
    people = _users(session, {units.code_of[u] for _, u in rows})
    inspector = people["inspector"]
    now = datetime.now(UTC)

    def act(person: Any, case_id: int, event: Any) -> dict[str, Any]:
        return case_store.act(session, person, case_id, event, settings)

    plan = ["closed", "returned", "unsubstantiated", "closed", "under_review", "verifying"]
    outcomes: Counter[str] = Counter()
    for index, (case_id, unit_id) in enumerate(rows):
        goal = plan[index] if index < len(plan) else "open"
        handler = people[units.code_of[unit_id]]
        detail = case_store.case_detail(session, inspector, case_id, now)
        if goal == "open":
            continue
        act(inspector, case_id, lc.StartVerify(inspector.name, now, detail["version"]))
        if goal == "verifying":
            outcomes[goal] += 1
            continue
        if goal == "unsubstantiated":
            act(
                inspector,
                case_id,
                lc.Unsubstantiate(
                    inspector.name, now, None, "调取执法记录仪视频，民警处置规范，已向群众解释"
                ),
            )
            outcomes[goal] += 1
            continue
        officers = tuple(o["police_number"] for o in detail["officers"])
        if not officers:
            officers = tuple(session.scalars(sa.select(Officer.police_number).limit(1)))
        act(
            inspector,
            case_id,
            lc.Substantiate(
                inspector.name, now, None, officers, "经核查，民警接待群众时态度生硬，情况属实"
            ),
        )
        act(
            handler,
            case_id,
            lc.Rectify(handler.name, now, None, "对涉事民警进行批评教育，组织全所学习服务规范"),
        )
        act(handler, case_id, lc.Submit(handler.name, now, None, "整改完毕，请审核"))
        if goal == "under_review":
            outcomes[goal] += 1
            continue
        if goal == "returned":
            act(
                inspector,
                case_id,
                lc.Return(inspector.name, now, None, "整改材料不全，补充谈话记录"),
            )
            act(handler, case_id, lc.Rectify(handler.name, now, None, "补充与当事民警的谈话记录"))
            act(handler, case_id, lc.Submit(handler.name, now, None, ""))
        act(inspector, case_id, lc.Accept(inspector.name, now, None, "整改到位"))
        outcomes["closed after a return" if goal == "returned" else "closed"] += 1

    manual = manual_calls.manual_list(session, inspector, limit=3)
    for index, row in enumerate(manual):
        call = (
            ManualCallRecord(True, reason_key="1", consent=True, notes="人工回访，群众表示理解")
            if index % 2 == 0
            else ManualCallRecord(False, notes="无人接听")
        )
        manual_calls.record_call(session, inspector, row["callback_id"], call, now, settings)
    ladder = ladder_store.proposals(session, inspector, settings, now)
    states = Counter(session.scalars(sa.select(Case.state)))
    outcome_sms = session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboundMessage)
        .where(OutboundMessage.kind == "case_outcome")
    )
    return {
        "cases": len(rows),
        "worked": dict(outcomes),
        "states": dict(states),
        "manual_calls": len(manual),
        "ladder": ladder,
        "outcome_sms": outcome_sms,
    }


def print_supervision(data: dict[str, Any], say: Callable[[str], None]) -> None:
    from gateway.cases.ladder import MEASURES

    say("")
    say("Supervision (督察): cases opened by unsatisfied ratings, worked by the inspectorate")
    if not data["cases"]:
        say("    (no case was opened)")
        return
    say(f"    cases opened: {data['cases']}")
    for what, n in sorted(data["worked"].items()):
        say(f"    worked to {what:<24} {n:5d}")
    say("    by state now: " + ", ".join(f"{s} {n}" for s, n in sorted(data["states"].items())))
    say(f"    outcome SMS queued for consenting citizens: {data['outcome_sms']}")
    say(f"    manual callbacks recorded by hand: {data['manual_calls']}")
    proposals = data["ladder"]["proposals"]
    say(f"    accountability ladder ({data['ladder']['period']}): {len(proposals)} proposals")
    for p in proposals[:6]:
        about = f" (for {p['about']})" if p["about"] else ""
        say(
            f"      {p['name']}({p['police_number']}) {p['subject']}{about}: "
            f"{MEASURES[p['proposed']]}, cases {p['case_ids']}"
        )
