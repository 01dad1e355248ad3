"""The ranking and the reports archive in the console, through the report API's own checks."""

from __future__ import annotations

import pytest_twisted

from tests.console.conftest import ConsoleSite


@pytest_twisted.ensureDeferred
async def test_the_months_ranking_shows_its_units_chart_and_earlier_months(
    console_site: ConsoleSite,
) -> None:
    client = console_site.client()
    await client.sign_in("v1")
    page = await client.get("/console/ranking?month=2026-11")
    assert page.code == 200, page.text
    assert "满意度排名 <small>2026-11</small>" in page.text
    assert 'id="ranking-chart"' in page.text and "单位B1" in page.text
    assert '<option value="2026-10">' in page.text
    bad = await client.get("/console/ranking?month=2026-13")
    assert bad.code == 400


@pytest_twisted.ensureDeferred
async def test_the_archive_lists_and_refuses_what_is_not_there(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("h1")
    page = await client.get("/console/reports")
    assert page.code == 200 and "报表归档" in page.text
    assert (await client.get("/console/reports/999")).code == 404


@pytest_twisted.ensureDeferred
async def test_the_ladder_is_for_those_whose_role_reads_it(console_site: ConsoleSite) -> None:
    inspector = console_site.client()
    await inspector.sign_in("insp")
    page = await inspector.get("/console/ladder")
    assert page.code == 200 and "问责阶梯" in page.text
    viewer = console_site.client()
    await viewer.sign_in("v1")
    assert (await viewer.get("/console/ladder")).code == 403
    forged = await viewer.post("/console/ladder", {"csrf": viewer.csrf(page), "interview": "1"})
    assert forged.code == 403  # not the viewer's CSRF token


@pytest_twisted.ensureDeferred
async def test_a_city_bureau_inspector_reads_the_audit_log_a_unit_handler_does_not(
    console_site: ConsoleSite,
) -> None:
    from gateway.console.users import ConsoleUser

    console_site.app.console.users.add(ConsoleUser("city", "inspector", "C0", "市局督察"), "pw")
    city = console_site.client()
    await city.sign_in("city", "pw")
    assert (await city.get("/console/audit")).code == 200
    handler = console_site.client()
    await handler.sign_in("hb1")
    assert (await handler.get("/console/audit")).code == 403
    assert (await handler.get("/console/users")).code == 403
