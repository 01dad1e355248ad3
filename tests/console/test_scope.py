"""The console's one permission rule (``gateway.accounts.permissions``): a station's handler
cannot reach another unit's page by typing its URL; a person of the root unit sees every unit
as the API's rule says (no unit-less special case of the console's own)."""

from __future__ import annotations

import pytest_twisted

from gateway.console.users import ConsoleUser
from tests.console.conftest import PASSWORD, ConsoleSite
from tests.console.test_cases import open_case
from tests.console.test_manual import add_manual_tasks


@pytest_twisted.ensureDeferred
async def test_a_station_handler_cannot_reach_another_units_page_by_url(
    console_site: ConsoleSite,
) -> None:
    ids = console_site.ids
    case_id = await open_case(console_site)  # the sub-bureau B1's
    tasks = add_manual_tasks(console_site)
    h1 = console_site.client()
    await h1.sign_in("h1")
    own = [
        "/console/surveys?unit=S1",
        "/console/callbacks?unit=S1",
        "/console/export/surveys.csv?unit=S1",
        f"/console/recordings/{ids['rec_S1']}",
    ]
    for url in own:
        assert (await h1.get(url)).code == 200, url
    foreign = [
        "/console/surveys?unit=S2",
        "/console/surveys?unit=B1",
        "/console/callbacks?unit=S2",
        "/console/export/surveys.csv?unit=S2",
        "/console/export/callbacks.xlsx?unit=C0",
        f"/console/recordings/{ids['rec_S2']}",
        f"/console/case/{case_id}",
        "/console/manual",
        "/console/manual?unit=S2",
        "/console/audit",
        "/console/users",
        "/console/ladder",
    ]
    for url in foreign:
        reply = await h1.get(url)
        assert reply.code == 403, (url, reply.code)
        assert "单位S2" not in reply.text and "139" not in reply.text, url
    page = await h1.get("/console/surveys")
    reply = await h1.post(
        f"/console/manual/{tasks['S2'][0]}", {"csrf": h1.csrf(page), "reached": "0"}
    )
    assert reply.code == 403
    menu = (await h1.get("/console/")).text
    for entry in ("/console/audit", "/console/users", "/console/manual", "/console/ladder"):
        assert f'href="{entry}"' not in menu, entry


@pytest_twisted.ensureDeferred
async def test_the_root_unit_sees_every_unit_and_a_station_inspector_only_its_own(
    console_site: ConsoleSite,
) -> None:
    users = console_site.app.console.users
    users.add(ConsoleUser("city", "inspector", "C0", "市局督察"), PASSWORD)
    users.add(ConsoleUser("insp_s1", "inspector", "S1", "派出所督察"), PASSWORD)
    city, station = console_site.client(), console_site.client()
    await city.sign_in("city")
    await station.sign_in("insp_s1")
    for url in ("/console/surveys?unit=S2", "/console/audit", "/console/manual?unit=S2"):
        assert (await city.get(url)).code == 200, url
        assert (await station.get(url)).code == 403, url
    menu = (await city.get("/console/")).text
    assert 'href="/console/audit"' in menu and 'href="/console/manual"' in menu
    menu = (await station.get("/console/")).text
    assert 'href="/console/audit"' not in menu and 'href="/console/manual"' in menu
