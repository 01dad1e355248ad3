"""The dashboard trend's earlier months from the per-unit rollup: the same figures as the live
read for every scope, and a dashboard that reads only today and this month once it is in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest_twisted
from twisted.internet import defer

from gateway.console.trend import VALID_SECONDS, refresh_trend, trend_spans
from storage.models import CallbackTask, ServiceEvent, Survey
from tests.console.conftest import NOW, ConsoleSite


def add_history(site: ConsoleSite) -> None:
    """Surveys and callbacks in three earlier months, in S1, S2 and B1."""

    def add(session: Any) -> None:
        for n, (code, months_back, rating) in enumerate(
            (
                ("S1", 1, "satisfied"),
                ("S1", 1, "unsatisfied"),
                ("S1", 3, "basically_satisfied"),
                ("S2", 3, "unsatisfied"),
                ("S2", 5, None),
                ("B1", 5, "satisfied"),
            ),
            start=1,
        ):
            unit_id = site.ids["units"][code]
            at = NOW - timedelta(days=31 * months_back)
            event = ServiceEvent(
                event_id=f"H{n}",
                category="incident",
                business="户籍业务",
                unit_id=unit_id,
                citizen_phone=f"1370000{n:04d}",
                occurred_at=at,
                source="demo",
            )
            session.add(event)
            session.flush()
            survey = Survey(
                event_id=event.id,
                unit_id=unit_id,
                category="incident",
                phone=event.citizen_phone,
                decision="selected",
                status="replied" if rating else "sent",
                rating=rating,
                sent_at=at,
                occurred_at=at,
                created_at=at,
            )
            session.add(survey)
            session.flush()
            if rating == "unsatisfied":
                session.add(
                    CallbackTask(
                        survey_id=survey.id,
                        unit_id=unit_id,
                        phone=survey.phone,
                        trigger="unsatisfied",
                        status="manual",
                        overdue=True,
                        created_at=at,
                    )
                )

    site.db.run_sync(add)


@pytest_twisted.ensureDeferred
async def test_the_rollup_gives_every_scope_the_live_figures(console_site: ConsoleSite) -> None:
    add_history(console_site)
    console = console_site.app.console
    await refresh_trend(console)
    _, spans, _ = trend_spans(console.now().date(), console.zone)
    units = console_site.ids["units"]
    scopes = [None, {units["S1"]}, {units["B1"], units["S1"], units["S2"]}, {units["S2"]}]
    now = console.clock.seconds()
    for scope in scopes:
        rolled = console.trend_rollup.figures(scope, spans[:-1], now)
        live = await console.store.figures(scope, spans[:-1])
        assert rolled == live, scope
    assert sum(f.sent for f in rolled) == 2  # S2's two earlier surveys
    whole = console.trend_rollup.figures(None, spans[:-1], now)
    assert sum(f.sent for f in whole) == 6 and sum(f.callbacks_overdue for f in whole) == 2
    # an hour later the rollup is too old to use
    assert console.trend_rollup.figures(None, spans[:-1], now + VALID_SECONDS) is None


@pytest_twisted.ensureDeferred
async def test_with_the_rollup_in_the_dashboard_reads_only_today_and_this_month(
    console_site: ConsoleSite,
) -> None:
    add_history(console_site)
    console = console_site.app.console
    asked: list[int] = []
    figures = console.store.figures

    def counting(units: Any, periods: Any) -> defer.Deferred[Any]:
        asked.append(len(periods))
        return figures(units, periods)

    console.store.figures = counting
    client = console_site.client()
    await client.sign_in("h1")
    first = await client.get("/console/")  # no rollup yet: live, and a rollup is asked for
    assert first.code == 200 and asked == [13]
    assert console.trend_rollup.at is not None
    second = await client.get("/console/")
    assert second.code == 200 and asked == [13, 2]
    # the same page either way
    strip = lambda text: text.split("<main>")[1].split("</main>")[0]  # noqa: E731
    assert strip(first.text) == strip(second.text)
