"""The demo's pipeline at a small size: every event decided, every unsatisfied citizen called."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

from gateway.demo.run import prepare, run_loop
from storage import reports
from storage.callback_export import callback_records
from storage.db import Database
from storage.survey_export import survey_records


@pytest_twisted.ensureDeferred
async def test_small_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    lines: list[str] = []
    config = prepare(tmp_path / "demo", lines.append)
    run = await run_loop(
        reactor, config, events=60, seed=7, speed=7200, say=lines.append, max_real_seconds=90
    )
    assert run.finished, "\n".join(lines)

    db = Database(f"sqlite:///{run.out / 'pingjing.sqlite3'}")
    try:
        overview = db.run_sync(reports.overview)
        surveys = db.run_sync(lambda s: list(survey_records(s)))
        callbacks = db.run_sync(lambda s: list(callback_records(s, None, None, None, None)))
    finally:
        db.stop()

    # one decision per stored event, and the refused ones were the malformed records
    assert run.feed.accepted == overview.events == len(surveys) == 60
    assert sorted(event_id for event_id, _ in run.feed.rejected) == [
        f"BAD-{run.day:%Y%m%d}-{n}" for n in (1, 2, 3)
    ]
    assert sum(overview.decisions.values()) == 60
    assert overview.surveys_sent == overview.decisions["selected"] > 0
    assert overview.replies > 0
    # every unsatisfied reply has a callback that reached a final state
    unsatisfied = {s["event_id"] for s in surveys if s["rating"] == "unsatisfied"}
    called = {c["event_id"]: c for c in callbacks}
    assert unsatisfied <= set(called)
    assert all(
        c["status"] in ("completed", "wrong_person", "no_input", "manual", "opted_out")
        for c in called.values()
    )
    for c in called.values():
        if c["recording_path"]:
            assert Path(c["recording_path"]).stat().st_size > 44  # more than a WAV header
    # phones never leave the database whole
    assert all("****" in s["phone"] for s in surveys if s["phone"])


@pytest_twisted.ensureDeferred
async def test_some_citizens_call_the_evaluation_line(tmp_path: Path) -> None:
    """Citizens who call instead of replying: their ratings count once, marked phone, and an
    unsatisfied caller's callback is done on the call itself."""
    import sqlalchemy as sa

    from storage import models as m

    lines: list[str] = []
    config = prepare(tmp_path / "demo", lines.append)
    run = await run_loop(
        reactor, config, events=80, seed=11, speed=7200, say=lines.append, max_real_seconds=90
    )
    assert run.finished, "\n".join(lines)
    db = Database(f"sqlite:///{run.out / 'pingjing.sqlite3'}")
    try:
        surveys = db.run_sync(lambda s: list(survey_records(s)))
        calls = db.run_sync(lambda s: list(s.scalars(sa.select(m.PhoneCall))))
    finally:
        db.stop()
    by_phone = [s for s in surveys if s["rated_via"] == "phone"]
    assert calls and by_phone, "\n".join(lines)
    assert len(by_phone) == sum(1 for c in calls if c.counted)
    assert {c.ended_how for c in calls} <= {"completed", "hangup", "no_input"}
