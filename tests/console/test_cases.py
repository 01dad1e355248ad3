"""Cases in the console: one case from open to closed across roles, with an upload and a
return; the inbox per role; another unit's case refused; a stale form shown as a conflict."""

from __future__ import annotations

import re
from typing import Any

import pytest_twisted
from twisted.internet import defer

from gateway.cases.opening import CaseOpening
from gateway.console.users import ConsoleUser
from tests.console.conftest import NOW, XSS, Client, ConsoleSite

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def open_case(site: ConsoleSite) -> int:
    """The inspectorate records a complaint about S1 (the case goes to B1, the sub-bureau)."""
    store = site.app.console.cases
    opening = CaseOpening(
        event_unit_code="S1",
        origin="complaint",
        at=NOW,
        actor="insp",
        phone="13812340009",
        officers=("100001",),
        complaint=XSS + " 民警态度差",
    )
    case = await defer.maybeDeferred(
        store.open_complaint, ConsoleUser("insp", "inspector", "", ""), opening
    )
    return case["id"]


async def act(client: Client, case_id: int, action: str, **fields: str) -> Any:
    page = await client.get(f"/console/case/{case_id}")
    assert page.code == 200, page.text
    assert f'id="form-{action}"' in page.text, (action, re.findall(r'id="form-(\w+)"', page.text))
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    fields = {"csrf": client.csrf(page), "action": action, "version": version, **fields}
    reply = await client.post(f"/console/case/{case_id}", fields)
    assert reply.code == 303, reply.text
    return await client.get(reply.header("location"))


def state(page: Any) -> str:
    return re.search(r'<small id="state">([^<]+)</small>', page.text).group(1)


@pytest_twisted.ensureDeferred
async def test_a_case_goes_from_open_to_closed_across_roles(console_site: ConsoleSite) -> None:
    case_id = await open_case(console_site)
    insp, unit = console_site.client(), console_site.client()
    await insp.sign_in("insp")
    await unit.sign_in("hb1")
    inbox = await insp.get("/console/cases")
    assert f'href="/console/case/{case_id}"' in inbox.text
    page = await insp.get(f"/console/case/{case_id}")
    assert XSS not in page.text and "&lt;script&gt;" in page.text
    assert state(await act(insp, case_id, "start_verify")) == "核查中"
    page = await act(insp, case_id, "substantiate", officers="100001", finding="态度生硬属实")
    assert state(page) == "属实"
    assert "提交审核" not in (await unit.get(f"/console/case/{case_id}")).text
    # The unit attaches evidence and records its measures.
    page = await unit.get(f"/console/case/{case_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    reply = await unit.upload(
        f"/console/case/{case_id}",
        {"csrf": unit.csrf(page), "action": "evidence", "version": version},
        "整改照片.png",
        "image/png",
        PNG,
    )
    assert reply.code == 303, reply.text
    page = await act(unit, case_id, "rectify", measure="已批评教育")
    assert "整改照片.png" in page.text and state(page) == "整改中"
    link = re.search(r'href="(/console/case/\d+/evidence/\d+)"', page.text).group(1)
    download = await insp.get(link)
    assert download.code == 200 and download.body == PNG
    assert download.header("content-type") == "image/png"
    assert download.header("content-disposition").startswith("attachment; filename*=UTF-8''")
    outsider = console_site.client()
    await outsider.sign_in("h2")
    assert (await outsider.get(link)).code == 403
    assert state(await act(unit, case_id, "submit", note="请审核")) == "待审核"
    review_box = await insp.get("/console/cases?box=review")
    assert f'href="/console/case/{case_id}"' in review_box.text
    page = await act(insp, case_id, "return", reason="材料不全")
    assert state(page) == "整改中" and "材料不全" in page.text
    await act(unit, case_id, "rectify", measure="补充谈话记录")
    await act(unit, case_id, "submit")
    page = await act(insp, case_id, "accept", note="同意办结")
    assert state(page) == "已办结"
    assert 'id="no-actions"' not in page.text  # a note may still be added
    assert page.text.count("<li>") >= 8  # the timeline


@pytest_twisted.ensureDeferred
async def test_another_units_case_cannot_be_reached_by_url(console_site: ConsoleSite) -> None:
    case_id = await open_case(console_site)
    for name in ("h2", "h1"):  # S2, and S1 (below B1, where the case is handled)
        client = console_site.client()
        await client.sign_in(name)
        page = await client.get(f"/console/case/{case_id}")
        assert page.code == 403 and "无权查看此案件" in page.text, name
        inbox = await client.get("/console/cases?box=all")
        assert f"/console/case/{case_id}" not in inbox.text
        forged = await client.post(
            f"/console/case/{case_id}", {"csrf": client.csrf(inbox), "action": "start_verify"}
        )
        assert forged.code == 403


@pytest_twisted.ensureDeferred
async def test_a_stale_form_is_shown_as_a_conflict(console_site: ConsoleSite) -> None:
    case_id = await open_case(console_site)
    insp = console_site.client()
    await insp.sign_in("insp")
    page = await insp.get(f"/console/case/{case_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    await act(insp, case_id, "note", text="先记一笔")
    reply = await insp.post(
        f"/console/case/{case_id}",
        {"csrf": insp.csrf(page), "action": "start_verify", "version": version},
    )
    assert reply.code == 409
    assert "案件已被他人修改" in reply.text and 'id="problem"' in reply.text


@pytest_twisted.ensureDeferred
async def test_an_upload_over_the_limit_is_refused_unread_and_nothing_is_stored(
    console_site: ConsoleSite,
) -> None:
    """A form bigger than the evidence limit (default 20 MB) is refused by its length, with
    the limit named, before it is read or parsed; the case keeps no evidence."""
    case_id = await open_case(console_site)
    insp, unit = console_site.client(), console_site.client()
    await insp.sign_in("insp")
    await unit.sign_in("hb1")
    await act(insp, case_id, "start_verify")
    await act(insp, case_id, "substantiate", officers="100001", finding="属实")
    page = await unit.get(f"/console/case/{case_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    reply = await unit.upload(
        f"/console/case/{case_id}",
        {"csrf": unit.csrf(page), "action": "evidence", "version": version},
        "big.png",
        "image/png",
        PNG + b"\x00" * (20 * 1024 * 1024),
    )
    assert reply.code == 409 and "文件为空或超过 20 MB" in reply.text
    assert "big.png" not in (await unit.get(f"/console/case/{case_id}")).text
