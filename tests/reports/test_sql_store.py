"""The SQL report store counts what the exports list: figures recomputed from `pingjing export`
rows (surveys and their callbacks) equal the store's, per unit subtree and period, on SQLite
and PostgreSQL; the records (约谈, adjustments, archive) round-trip."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from gateway.cli import main
from gateway.reports import compute
from gateway.reports.consequences import DISCIPLINE_INTERVIEW, InterviewProposal
from gateway.reports.figures import COUNTS
from gateway.reports.periods import Period, period_of
from gateway.reports.settings import ReportSettings
from gateway.reports.store import ArchivedReport, SurveyFact, count_facts, subtree
from storage.report_store import SqlReportStore

from .sqlcity import ZONE, build, pg_database

NOW = datetime(2018, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def city(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('city') / 'r.sqlite3'}"
    else:
        with pg_database(request.getfixturevalue("pg_server_url")) as url:
            db = build(url)
            yield url, db
            db.stop()
        return
    db = build(url)
    yield url, db
    db.stop()


def export(capsys, tmp_path, url, what, *extra):
    config = tmp_path / "pj.toml"
    config.write_text(
        f'[service]\ndata_dir = "{tmp_path}"\n[database]\nurl = "{url}"\n[smpp]\nsystem_id = "t"\n',
        "utf-8",
    )
    assert main(["export", what, "--config", str(config), "--format", "jsonl", *extra]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def facts_from_exports(surveys, callbacks, people=None):
    tasks = {c["event_id"]: c for c in callbacks}
    out = []
    for s in surveys:
        task = tasks.get(s["event_id"])
        out.append(
            SurveyFact(
                s["unit_code"],
                NOW,
                sent=bool(s["sent_at"]),
                delivered=bool(s["delivered_at"]),
                replied=bool(s["replied_at"]),
                rating=s["rating"],
                comment=s["comment"],
                callback_status=task and task["status"],
                callback_completed=bool(task and task["completed_at"]),
                reason_key=task and task["reason"],
            )
        )
    return out


@pytest.mark.parametrize(
    "period",
    [
        period_of("month", date(2018, 5, 1)),
        period_of("month", date(2018, 6, 1)),
        period_of("day", date(2018, 5, 31)),
        Period("period", date(2018, 5, 1), date(2018, 7, 1)),
    ],
    ids=lambda p: p.key,
)
def test_figures_equal_a_recount_of_the_exports(city, period, capsys, tmp_path):
    url, db = city
    store = SqlReportStore()
    units = db.run_sync(store.units)
    start, end = period.bounds(ZONE)
    codes = ["530400000000", "530402000000", "530403000000", "530422000000", "530400110000"]
    got = db.run_sync(store.figures, start, end, codes)
    bounds = ["--from", period.first.isoformat(), "--to", period.last.isoformat()]
    surveys = export(capsys, tmp_path, url, "surveys", *bounds)
    callbacks = export(capsys, tmp_path, url, "callbacks")
    facts = facts_from_exports(surveys, callbacks)
    assert got["530400000000"].events == len(surveys) > 0
    for code in codes:
        members = subtree(units, code)
        expected = count_facts(f for f in facts if f.unit_code in members)
        for name in COUNTS:
            if name == "callbacks_overdue" or name.startswith("cases_"):
                continue  # not in the exports
            assert getattr(got[code], name) == getattr(expected, name), (code, name)
        assert got[code].reasons == expected.reasons, code
    city_figures = got["530400000000"]
    assert city_figures.replies and city_figures.unsatisfied and city_figures.callbacks_due
    assert any(k.startswith("inferred:") for k in city_figures.reasons) or period.kind == "day"


def test_officer_figures_add_up_to_the_city(city):
    _, db = city
    store = SqlReportStore()
    period = Period("period", date(2018, 5, 1), date(2018, 7, 1))
    start, end = period.bounds(ZONE)
    rows = db.run_sync(store.officer_figures, start, end, None)
    total = db.run_sync(store.figures, start, end, ["530400000000"])["530400000000"]
    assert len(rows) > 1
    assert sum(f.events for _, _, f in rows) == total.events  # one officer per event here
    assert sum(f.unsatisfied for _, _, f in rows) == total.unsatisfied
    mine = db.run_sync(store.officer_figures, start, end, "530403000000")
    assert 0 < len(mine) < len(rows)


def test_ranking_on_sql(city):
    _, db = city
    settings = ReportSettings(min_sample=5)
    rows = db.run_sync(
        lambda s: compute.ranking(
            SqlReportStore(), s, period_of("month", date(2018, 5, 1)), settings
        )
    )
    ranked = [r for r in rows if r.rank is not None]
    assert ranked and all(r.sample >= 5 for r in ranked)
    assert [r.rate for r in ranked] == sorted((r.rate for r in ranked), reverse=True)


def test_interviews_adjustments_and_archive_round_trip(city):
    _, db = city
    store = SqlReportStore()
    proposal = InterviewProposal(
        "530403000000", "2017-03", DISCIPLINE_INTERVIEW, ("主要领导", "分管领导"), 2.0
    )
    saved = db.run_sync(store.save_proposals, [proposal, proposal], NOW)
    assert [(i.unit_code, i.status) for i in saved] == [("530403000000", "proposed")]
    again = db.run_sync(store.save_proposals, [proposal], NOW)
    assert [i.id for i in again] == [saved[0].id]
    decided = db.run_sync(store.decide_interview, saved[0].id, "confirmed", "督察支队", NOW)
    assert decided.status == "confirmed" and decided.decided_by == "督察支队"
    # a second decision changes nothing and adds no second deduction
    db.run_sync(store.decide_interview, saved[0].id, "dismissed", "x", NOW)
    assert db.run_sync(store.adjustments, 2017) == {"530403000000": -2.0}
    report = ArchivedReport(0, "month", "2017-03", "", "xlsx", "/tmp/x.xlsx", 10, "ab" * 32, NOW)
    stored = db.run_sync(store.archive, report)
    assert db.run_sync(store.archived_one, stored.id).path == "/tmp/x.xlsx"
    assert stored.id in [r.id for r in db.run_sync(store.archived, "month")]


@pytest.mark.parametrize("dimension", ["category", "business"])
def test_breakdowns_add_up_to_the_unit(city, dimension):
    _, db = city
    store = SqlReportStore()
    start, end = Period("period", date(2018, 5, 1), date(2018, 7, 1)).bounds(ZONE)
    rows = db.run_sync(store.breakdown, start, end, "530402000000", dimension)
    total = db.run_sync(store.figures, start, end, ["530402000000"])["530402000000"]
    assert rows and sum(f.events for _, f in rows) == total.events
    assert sum(f.unsatisfied for _, f in rows) == total.unsatisfied
    assert sum(f.callbacks_due for _, f in rows) == total.callbacks_due
    assert sum((f.reasons for _, f in rows), start=type(total.reasons)()) == total.reasons


def test_case_figures_count_the_cases_of_the_periods_surveys(city):
    """Substantiated, unsubstantiated, rectified (closed after substantiated), returned at
    least once, overdue (open past its due time), recounted from the case rows."""
    from storage.case_models import Case
    from storage.models import ServiceEvent, Survey

    _, db = city
    span = Period("period", date(2018, 5, 1), date(2018, 7, 1))
    start, end = span.bounds(ZONE)
    got = db.run_sync(SqlReportStore().figures, start, end, ["530400000000"])["530400000000"]

    def recount(session):
        rows = (
            session.execute(
                sa.select(Case)
                .join(Survey, Survey.id == Case.survey_id)
                .join(ServiceEvent, ServiceEvent.id == Survey.event_id)
                .where(ServiceEvent.occurred_at >= start, ServiceEvent.occurred_at < end)
            )
            .scalars()
            .all()
        )
        now = datetime.now(UTC)
        return (
            sum(c.substantiated_at is not None for c in rows),
            sum(c.state == "unsubstantiated" for c in rows),
            sum(c.substantiated_at is not None and c.state == "closed" for c in rows),
            sum(c.returns > 0 for c in rows),
            sum(
                c.state not in ("closed", "unsubstantiated")
                and c.due_at is not None
                and c.due_at <= now
                for c in rows
            ),
        )

    expected = db.run_sync(recount)
    assert expected[0] and expected[1] and expected[2] and expected[3]
    assert (
        got.cases_substantiated,
        got.cases_unsubstantiated,
        got.cases_rectified,
        got.cases_returned,
        got.cases_overdue,
    ) == expected
    assert got.rectification_rate == expected[2] / expected[0]


def test_overdue_now_counts_open_work_past_its_time(city):
    from storage.case_models import Case
    from storage.models import CallbackTask

    _, db = city
    now = datetime(2018, 6, 10, tzinfo=UTC)
    got = db.run_sync(SqlReportStore().overdue_now, now)

    def recount(session):
        tasks = session.scalars(sa.select(CallbackTask)).all()
        cases = session.scalars(sa.select(Case)).all()
        return (
            sum(
                t.overdue
                and t.status in ("pending", "in_progress", "manual")
                and t.completed_at is None
                for t in tasks
            ),
            sum(
                c.state not in ("closed", "unsubstantiated")
                and c.due_at is not None
                and c.due_at <= now
                for c in cases
            ),
        )

    expected = db.run_sync(recount)
    assert got == expected and expected[0] and expected[1]
