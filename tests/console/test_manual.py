"""Manual callbacks in the console: the list (paged, masked, scoped), revealing numbers
(audited), recording calls through the API's service, a conflict shown plainly, another unit's
task refused, and a role that may not dial kept out."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest_twisted
import sqlalchemy as sa

from gateway.console.users import ConsoleUser
from storage.case_models import ManualCall
from storage.models import AuditEntry, CallbackTask, ServiceEvent, Survey
from tests.console.conftest import NOW, PASSWORD, ConsoleSite


def add_manual_tasks(site: ConsoleSite, per_unit: int = 1) -> dict[str, list[int]]:
    """``per_unit`` tasks on the manual list for each of S1 and S2 (over the seed's surveys)."""

    def add(session: Any) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {"S1": [], "S2": []}
        for code, unit_id in site.ids["units"].items():
            if code not in out:
                continue
            for n in range(per_unit):
                phone = f"139{unit_id:04d}{n:04d}"
                event = ServiceEvent(
                    event_id=f"MC{unit_id}-{n}",
                    category="incident",
                    business="户籍业务",
                    unit_id=unit_id,
                    citizen_phone=phone,
                    occurred_at=NOW - timedelta(days=1),
                    source="demo",
                )
                session.add(event)
                session.flush()
                survey = Survey(
                    event_id=event.id,
                    unit_id=unit_id,
                    category="incident",
                    phone=phone,
                    decision="selected",
                    status="sent",
                    sent_at=NOW - timedelta(days=1),
                    occurred_at=NOW - timedelta(days=1),
                    created_at=NOW - timedelta(days=1),
                )
                session.add(survey)
                session.flush()
                task = CallbackTask(
                    survey_id=survey.id,
                    unit_id=unit_id,
                    phone=phone,
                    trigger="unsatisfied",
                    status="manual",
                    attempts=3,
                    created_at=NOW - timedelta(hours=1),
                )
                session.add(task)
                session.flush()
                out[code].append(task.id)
        return out

    return site.db.run_sync(add)


def sign_up(site: ConsoleSite, user: ConsoleUser) -> None:
    site.app.console.users.add(user, PASSWORD)


def form_for(page: Any, task_id: int) -> bool:
    return f'action="/console/manual/{task_id}"' in page.text


@pytest_twisted.ensureDeferred
async def test_the_list_is_masked_scoped_and_paged(console_site: ConsoleSite) -> None:
    tasks = add_manual_tasks(console_site, per_unit=30)
    sign_up(console_site, ConsoleUser("insp_s1", "inspector", "S1", "派出所督察"))
    insp = console_site.client()
    await insp.sign_in("insp")
    page = await insp.get("/console/manual")
    assert page.code == 200, page.text
    shown = [int(x) for x in re.findall(r'<tr id="task-(\d+)"', page.text)]
    assert shown == sorted(tasks["S1"] + tasks["S2"])[:50]
    assert not re.search(r"139\d{8}", page.text)  # masked
    assert 'id="reveal"' in page.text and form_for(page, shown[0])
    nxt = re.search(r'id="next" href="\?([^"]+)"|href="\?([^"]+)" id="next"', page.text)
    rest = await insp.get("/console/manual?" + (nxt.group(1) or nxt.group(2)).replace("&amp;", "&"))
    more = [int(x) for x in re.findall(r'<tr id="task-(\d+)"', rest.text)]
    assert more == sorted(tasks["S1"] + tasks["S2"])[50:]

    local = console_site.client()
    await local.sign_in("insp_s1")
    page = await local.get("/console/manual")
    shown = [int(x) for x in re.findall(r'<tr id="task-(\d+)"', page.text)]
    assert shown == tasks["S1"]
    refused = await local.get("/console/manual?unit=S2")
    assert refused.code == 403


@pytest_twisted.ensureDeferred
async def test_revealing_numbers_is_audited_and_only_for_who_may_dial(
    console_site: ConsoleSite,
) -> None:
    tasks = add_manual_tasks(console_site)
    insp = console_site.client()
    await insp.sign_in("insp")
    page = await insp.get("/console/manual?reveal=1")
    assert page.code == 200
    assert re.search(r'<td class="phone">139\d{8}</td>', page.text)
    audits = console_site.db.run_sync(
        lambda s: s.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "manual_phones_shown")
        ).all()
    )
    assert [a.actor for a in audits] == ["insp"]
    assert sorted(audits[0].detail["callback_ids"]) == sorted(tasks["S1"] + tasks["S2"])

    viewer = console_site.client()
    await viewer.sign_in("v1")
    home = await viewer.get("/console/")
    assert 'href="/console/manual"' not in home.text
    assert (await viewer.get("/console/manual")).code == 403
    assert (await viewer.get("/console/manual?reveal=1")).code == 403


@pytest_twisted.ensureDeferred
async def test_recording_calls_with_a_conflict_and_a_foreign_task(
    console_site: ConsoleSite,
) -> None:
    tasks = add_manual_tasks(console_site)
    sign_up(console_site, ConsoleUser("insp_s1", "inspector", "S1", "派出所督察"))
    insp, other = console_site.client(), console_site.client()
    await insp.sign_in("insp")
    await other.sign_in("insp")
    task_id = tasks["S1"][0]
    page = await insp.get("/console/manual")
    stale = await other.get("/console/manual")

    missing = await insp.post(f"/console/manual/{task_id}", {"csrf": insp.csrf(page)})
    assert missing.code == 409 and "请选择是否联系上群众" in missing.text
    no_csrf = await insp.post(f"/console/manual/{task_id}", {"reached": "0"})
    assert no_csrf.code == 403

    fields = {"reached": "0", "notes": "无人接听"}
    reply = await insp.post(f"/console/manual/{task_id}", {"csrf": insp.csrf(page), **fields})
    assert reply.code == 303, reply.text
    after = await insp.get(reply.header("location"))
    assert 'id="done"' in after.text and "未联系上：无人接听" in after.text

    fields = {"reached": "1", "reason_key": "1", "rating": "unsatisfied", "consent": "1"}
    reply = await insp.post(f"/console/manual/{task_id}", {"csrf": insp.csrf(page), **fields})
    assert reply.code == 303, reply.text
    after = await insp.get(reply.header("location"))
    assert f'id="task-{task_id}"' not in after.text  # done: off the list

    # the other inspector's form was loaded before: the service refuses, shown plainly
    late = await other.post(f"/console/manual/{task_id}", {"csrf": other.csrf(stale), **fields})
    assert late.code == 409
    assert f"回访 {task_id} 未能记录" in late.text and "already reached" in late.text

    calls = console_site.db.run_sync(
        lambda s: [
            (c.caller, c.reached, c.notes)
            for c in s.scalars(sa.select(ManualCall).where(ManualCall.callback_id == task_id))
        ]
    )
    assert calls == [("insp", False, "无人接听"), ("insp", True, None)]

    local = console_site.client()
    await local.sign_in("insp_s1")
    page = await local.get("/console/manual")
    foreign = tasks["S2"][0]
    reply = await local.post(f"/console/manual/{foreign}", {"csrf": local.csrf(page), **fields})
    assert reply.code == 403
    status = console_site.db.run_sync(lambda s: s.get(CallbackTask, foreign).status)
    assert status == "manual"
