"""``/api/v1/reports``: figures in the token's scope, the ranking for any token, per-officer
figures only for the inspectorate, the archive listed and downloaded within scope."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from twisted.internet.defer import maybeDeferred

from gateway.config import ApiToken
from gateway.http.api import ApiNode
from gateway.http.auth import bearer_authenticator
from gateway.http.reports import ReportApi, report_api
from gateway.reports.periods import period_of
from gateway.reports.produce import produce_and_archive
from gateway.reports.settings import ReportSettings
from storage.report_store import SqlReportStore
from tests.http.test_routes import request

from .sqlcity import build

TOKENS = [
    ApiToken(name="duchadui", token="t-all"),
    ApiToken(name="hongta", token="t-ht", unit="530402000000"),
]
SETTINGS = ReportSettings(min_sample=5)


class Runner:
    def __init__(self, db):
        self.db = db

    def run(self, fn, *args, **kwargs):
        return maybeDeferred(self.db.run_sync, fn, *args, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root_dir = tmp_path_factory.mktemp("api")
    db = build(f"sqlite:///{root_dir / 'r.sqlite3'}")
    store = SqlReportStore()
    now = datetime(2018, 6, 2, tzinfo=UTC)
    db.run_sync(
        lambda tx: produce_and_archive(
            "month",
            store,
            tx,
            period_of("month", date(2018, 5, 1)),
            SETTINGS,
            now,
            root_dir,
            ("text",),
        )
    )
    db.run_sync(
        lambda tx: produce_and_archive(
            "week",
            store,
            tx,
            period_of("week", date(2018, 5, 23)),
            SETTINGS,
            now,
            root_dir,
            ("text",),
            unit_code="530403000000",
        )
    )
    root = ApiNode()
    api, v1 = ApiNode(), ApiNode()
    root.putChild(b"api", api)
    api.putChild(b"v1", v1)
    v1.putChild(
        b"reports",
        report_api(ReportApi(Runner(db), store, SETTINGS, bearer_authenticator(TOKENS))),
    )
    yield SimpleNamespace(root=root, db=db)
    db.stop()


def get(site, url, token):
    req = request(site.root, "GET", url, token)
    return req.responseCode, b"".join(req.written)


def test_figures_within_the_tokens_units(site):
    code, body = get(site, "/api/v1/reports/figures?from=2018-05-01&to=2018-06-30", "t-ht")
    data = json.loads(body)
    assert code == 200 and data["unit"] == "530402000000"
    assert data["figures"]["events"] == 160  # two of the five stations
    code, body = get(
        site, "/api/v1/reports/figures?unit=530403000000&from=2018-05-01&to=2018-06-30", "t-ht"
    )
    assert code == 403
    code, body = get(site, "/api/v1/reports/figures?from=2018-05-01&to=2018-06-30", "t-all")
    assert json.loads(body)["figures"]["events"] == 400
    code, body = get(site, "/api/v1/reports/figures?from=2018-05-01", "t-all")
    assert code == 400


def test_ranking_for_any_token(site):
    code, body = get(site, "/api/v1/reports/ranking?month=2018-05", "t-ht")
    data = json.loads(body)
    assert code == 200 and data["month"] == "2018-05"
    ranked = [r for r in data["ranking"] if r["rank"] is not None]
    assert ranked and all(r["interval"][0] <= r["rate"] <= r["interval"][1] for r in ranked)
    assert data["interviews"]  # recorded when the monthly report was produced
    assert get(site, "/api/v1/reports/ranking?month=May", "t-ht")[0] == 400
    assert get(site, "/api/v1/reports/ranking", None)[0] == 401


def test_officer_figures_only_for_the_inspectorate(site):
    code, body = get(site, "/api/v1/reports/officers?from=2018-05-01&to=2018-06-30", "t-all")
    assert code == 200 and json.loads(body)["officers"]
    code, body = get(site, "/api/v1/reports/officers?from=2018-05-01&to=2018-06-30", "t-ht")
    assert code == 403 and "per-officer" in json.loads(body)["error"]


def test_archive_lists_and_downloads_within_scope(site):
    code, body = get(site, "/api/v1/reports/archive", "t-ht")
    listed = json.loads(body)["reports"]
    assert code == 200 and {r["kind"] for r in listed} == {"month"}  # not 江川's weekly
    code, body = get(site, "/api/v1/reports/archive", "t-all")
    everything = json.loads(body)["reports"]
    assert {r["kind"] for r in everything} == {"month", "week"}
    month = next(r for r in everything if r["kind"] == "month")
    code, body = get(site, month["url"], "t-ht")
    assert code == 200 and body.decode("utf-8").startswith("短信评警工作通报（2018年5月）")
    week = next(r for r in everything if r["kind"] == "week")
    assert get(site, week["url"], "t-ht")[0] == 403
    assert get(site, week["url"], "t-all")[0] == 200
    assert get(site, "/api/v1/reports/archive/999", "t-all")[0] == 404
