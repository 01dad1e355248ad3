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
#: users as gateway.accounts would authenticate them: a role beside the unit
USERS = {
    "u-inspector": SimpleNamespace(name="zhang", unit="530400000000", role="inspector"),
    "u-viewer": SimpleNamespace(name="li", unit="530402000000", role="viewer"),
    "u-ht-inspector": SimpleNamespace(name="wang", unit="530402000000", role="inspector"),
}


def authenticator():
    tokens = bearer_authenticator(TOKENS)

    def authenticate(request):
        header = (request.getHeader("authorization") or "").removeprefix("Bearer ")
        return USERS.get(header) or tokens(request)

    return authenticate


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
        report_api(ReportApi(Runner(db), store, SETTINGS, authenticator())),
    )
    yield SimpleNamespace(root=root, db=db, dir=root_dir)
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


def test_officer_figures_only_for_the_roles_allowed(site):
    """report.officers: an inspector, within the inspector's units; not a viewer, not a
    machine token (gateway.accounts.permissions decides)."""
    span = "from=2018-05-01&to=2018-06-30"
    code, body = get(site, f"/api/v1/reports/officers?{span}", "u-inspector")
    assert code == 200 and json.loads(body)["officers"]
    for who in ("u-viewer", "t-all", "t-ht"):
        code, body = get(site, f"/api/v1/reports/officers?{span}", who)
        assert code == 403 and "report.officers" in json.loads(body)["error"], who
    code, body = get(site, f"/api/v1/reports/officers?{span}", "u-ht-inspector")
    assert code == 200 and json.loads(body)["unit"] == "530402000000"
    code, _ = get(site, f"/api/v1/reports/officers?{span}&unit=530403000000", "u-ht-inspector")
    assert code == 403
    code, body = get(site, f"/api/v1/reports/figures?{span}", "u-viewer")
    assert code == 200 and json.loads(body)["unit"] == "530402000000"


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


def test_archived_quarterly_analyses_name_officers_and_need_report_officers(site):
    def produce(tx):
        return produce_and_archive(
            "quarter",
            SqlReportStore(),
            tx,
            period_of("quarter", date(2018, 5, 1)),
            SETTINGS,
            datetime(2018, 7, 1, tzinfo=UTC),
            site.dir,
            ("text",),
        )

    [quarterly] = site.db.run_sync(produce).files
    url = f"/api/v1/reports/archive/{quarterly.id}"
    assert get(site, url, "u-inspector")[0] == 200
    code, body = get(site, url, "u-viewer")
    assert code == 403 and "names officers" in json.loads(body)["error"]
    listed = json.loads(get(site, "/api/v1/reports/archive", "u-viewer")[1])["reports"]
    assert quarterly.id not in [r["id"] for r in listed]
    listed = json.loads(get(site, "/api/v1/reports/archive", "u-inspector")[1])["reports"]
    assert quarterly.id in [r["id"] for r in listed]


def test_interviews_listed_and_decided_by_an_inspector(site):
    code, body = get(site, "/api/v1/reports/interviews?month=2018-05", "u-viewer")
    records = json.loads(body)["interviews"]
    assert code == 200 and records and {r["status"] for r in records} == {"proposed"}
    url = f"/api/v1/reports/interviews/{records[0]['id']}"
    refused = request(site.root, "POST", url, "u-viewer", {"decision": "confirmed"})
    assert refused.responseCode == 403
    bad = request(site.root, "POST", url, "u-inspector", {"decision": "maybe"})
    assert bad.responseCode == 400
    done = request(site.root, "POST", url, "u-inspector", {"decision": "confirmed"})
    answer = json.loads(b"".join(done.written))
    assert done.responseCode == 200 and answer["status"] == "confirmed"
    assert answer["decided_by"] == "zhang"
    again = request(site.root, "POST", url, "u-inspector", {"decision": "dismissed"})
    assert again.responseCode == 409


@pytest.mark.parametrize(
    ("raw", "code", "named"),
    [
        (b'{"decision": "confirmed"' + b" " * 70_000 + b"}", 413, "larger than 65536"),
        ('{"decision": "确认"}'.encode()[:-4] + b'"}', 400, "not UTF-8"),
        (b"[" * 20_000 + b"]" * 20_000, 400, "nested too deeply"),
        (b'{"decision": ', 400, "not JSON"),
        (b'{"decision": ["confirmed"]}', 400, "'decision'"),
    ],
    ids=["oversized", "broken UTF-8", "deep nesting", "truncated", "wrong type"],
)
def test_a_bad_decision_body_is_refused_with_its_reason(site, raw, code, named):
    """Each bad body gets its status and a JSON error naming what is wrong; nothing decided."""
    listing = "/api/v1/reports/interviews?month=2018-05"

    def status_of() -> dict[int, str]:
        return {
            r["id"]: r["status"]
            for r in json.loads(get(site, listing, "u-inspector")[1])["interviews"]
        }

    before = status_of()
    url = f"/api/v1/reports/interviews/{min(before)}"
    answer = request(site.root, "POST", url, "u-inspector", raw=raw)
    assert answer.responseCode == code
    assert named in json.loads(b"".join(answer.written))["error"]
    assert status_of() == before
