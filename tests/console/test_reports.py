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
