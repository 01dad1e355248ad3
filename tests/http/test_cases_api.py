"""``/api/v1/cases``: the inbox, a case's detail, actions, evidence and complaints, as people
with different roles and units see them (users' tokens, checked by gateway.accounts)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from gateway.accounts.credentials import token_hash
from gateway.accounts.model import Role
from gateway.accounts.store import NewUser
from gateway.app import make_api_site
from gateway.cases.opening import CaseOpening
from gateway.config import load_settings
from gateway.surveys.intake import EventIntake
from storage import user_store
from storage.case_rows import open_cases
from storage.events_store import SqlEventStore
from storage.models import AuditEntry, Officer, Unit
from tests.callbacks.conftest import SyncDatabase

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

PEOPLE = {
    "city-inspector": ("C", Role.INSPECTOR),
    "b1-inspector": ("B1", Role.INSPECTOR),
    "b1-handler": ("B1", Role.HANDLER),
    "b2-handler": ("B2", Role.HANDLER),
    "c-viewer": ("C", Role.VIEWER),
}


def seed(session: Any, settings: Any) -> dict[str, int]:
    city = Unit(code="C", name="市局", kind="city_bureau")
    b1 = Unit(code="B1", name="一分局", kind="sub_bureau", parent=city)
    b2 = Unit(code="B2", name="二分局", kind="sub_bureau", parent=city)
    s1 = Unit(code="S1", name="一所", kind="station", parent=b1)
    s2 = Unit(code="S2", name="二所", kind="station", parent=b2)
    session.add_all([city, b1, b2, s1, s2])
    session.flush()
    session.add(Officer(police_number="P1", name="民警甲", unit_id=s1.id))
    for name, (unit, role) in PEOPLE.items():
        user_store.add_user(session, NewUser(name, name, unit, role))
        user_store.add_token(session, name, "t", token_hash(f"tok-{name}"))
    first, second = open_cases(
        session,
        [
            CaseOpening(
                "S1",
                "complaint",
                NOW,
                complaint="态度差",
                phone="13812345678",
                consent=True,
                officers=("P1",),
            ),
            CaseOpening("S2", "complaint", NOW, complaint="太慢"),
        ],
        settings.cases,
    )
    return {"s1_case": first, "s2_case": second}


@pytest.fixture
def api(tmp_path: Path):
    env = {"PINGJING_SERVICE_DATA_DIR": str(tmp_path)}
    settings = load_settings(REPO / "conf" / "pingjing.toml", env=env)
    settings = settings.replace(
        http=dataclasses.replace(settings.http, tokens=[]),
        cases=dataclasses.replace(settings.cases, evidence_max_bytes=1000),
    )
    db = SyncDatabase(f"sqlite:///{tmp_path / 'api.db'}")
    ids = db.run_sync(seed, settings)
    app = SimpleNamespace(db=db, intake=EventIntake(db, settings.survey, store=SqlEventStore()))
    site = make_api_site(app, settings)
    app.user_tokens.reload()
    cases = site.resource.children[b"api"].children[b"v1"].children[b"cases"]
    cases.run_blocking = defer.maybeDeferred  # the file work at once, as SyncDatabase does
    return SimpleNamespace(root=site.resource, db=db, ids=ids, tmp=tmp_path, app=app)


def call(api, method, url, who=None, body=None, raw=None, ctype=None):
    parts = urlsplit(url)
    req = DummyRequest([p.encode() for p in parts.path.lstrip("/").split("/")])
    req.method = method.encode()
    req.uri = url.encode()
    req.client = IPv4Address("TCP", "10.1.2.3", 40000)
    req.args = {k.encode(): [x.encode() for x in v] for k, v in parse_qs(parts.query).items()}
    if who is not None:
        req.requestHeaders.addRawHeader(b"authorization", f"Bearer tok-{who}".encode())
    if body is not None:
        raw, ctype = json.dumps(body).encode(), "application/json"
    if raw is not None:
        req.requestHeaders.addRawHeader(b"content-type", ctype.encode())
        req.content = BytesIO(raw)
    resource = getChildForRequest(api.root, req)
    result = resource.render(req)
    if isinstance(result, bytes):
        req.write(result)
        req.finish()
    data = b"".join(req.written)
    ctype_out = req.responseHeaders.getRawHeaders(b"content-type", [b""])[0]
    parsed = json.loads(data) if ctype_out.startswith(b"application/json") else data
    return req.responseCode or 200, parsed


def test_the_inbox_follows_each_persons_units(api):
    """The city sees both cases; a sub-bureau's people see their own; a filter outside is 403."""
    status, body = call(api, "GET", "/api/v1/cases", "city-inspector")
    assert status == 200 and {c["unit"] for c in body["cases"]} == {"B1", "B2"}
    status, body = call(api, "GET", "/api/v1/cases", "b1-handler")
    assert [c["id"] for c in body["cases"]] == [api.ids["s1_case"]]
    status, body = call(api, "GET", "/api/v1/cases?unit=B2", "b1-inspector")
    assert status == 403 and "B2" in body["error"]
    status, body = call(api, "GET", "/api/v1/cases?state=bogus", "city-inspector")
    assert status == 400
    status, body = call(api, "GET", "/api/v1/cases?limit=1", "city-inspector")
    assert len(body["cases"]) == 1 and body["next_after"] == body["cases"][0]["id"]


def test_the_loop_over_http_with_a_conflict(api):
    case = api.ids["s1_case"]
    url = f"/api/v1/cases/{case}/actions"
    status, detail = call(api, "GET", f"/api/v1/cases/{case}", "b1-inspector")
    assert status == 200 and detail["allowed_actions"] == [
        "case.assign",
        "case.note",
        "case.start_verify",
    ]
    assert detail["phone"] != "13812345678"
    _, detail = call(api, "POST", url, "b1-inspector", {"action": "start_verify", "version": 1})
    _, detail = call(
        api,
        "POST",
        url,
        "b1-inspector",
        {"action": "substantiate", "version": 2, "officers": ["P1"], "finding": "属实"},
    )
    assert detail["state"] == "substantiated"
    status, body = call(
        api, "POST", url, "b1-inspector", {"action": "unsubstantiate", "version": 2, "reason": "x"}
    )
    assert status == 409 and body["conflict"] is True
    status, body = call(api, "POST", url, "b1-inspector", {"action": "rectify", "measure": "x"})
    assert status == 403 and "inspector" in body["error"]
    status, body = call(api, "POST", url, "b2-handler", {"action": "rectify", "measure": "x"})
    assert status == 403
    status, body = call(api, "POST", url, "b1-handler", {"action": "fly"})
    assert status == 400 and "unknown action" in body["error"]
    for who, body in [
        ("b1-handler", {"action": "rectify", "measure": "谈话提醒"}),
        ("b1-handler", {"action": "submit"}),
        ("city-inspector", {"action": "accept", "note": "同意"}),
    ]:
        status, detail = call(api, "POST", url, who, body)
        assert status == 200, detail
    assert detail["state"] == "closed" and detail["outcome_sms_id"] is not None
    status, body = call(api, "POST", url, "c-viewer", {"action": "note", "text": "看过"})
    assert status == 403


def test_evidence_upload_checks_type_and_size_and_the_download_is_audited(api):
    case = api.ids["s1_case"]
    url = f"/api/v1/cases/{case}/actions"
    call(api, "POST", url, "b1-inspector", {"action": "start_verify"})
    call(
        api,
        "POST",
        url,
        "b1-inspector",
        {"action": "substantiate", "officers": ["P1"], "finding": "属实"},
    )
    upload = f"/api/v1/cases/{case}/evidence?filename=记录.pdf"
    status, _ = call(api, "POST", upload, "b1-handler", raw=b"MZ", ctype="application/x-msdownload")
    assert status == 415
    status, _ = call(api, "POST", upload, "b1-handler", raw=b"x" * 1001, ctype="application/pdf")
    assert status == 413
    status, _ = call(api, "POST", upload, "b2-handler", raw=b"%PDF", ctype="application/pdf")
    assert status == 403
    status, detail = call(
        api, "POST", upload, "b1-handler", raw=b"%PDF-1.4", ctype="application/pdf"
    )
    assert status == 201 and detail["state"] == "rectifying"
    [evidence] = detail["evidence"]
    assert evidence["filename"] == "记录.pdf" and evidence["size_bytes"] == 8
    stored = list((api.tmp / "evidence").rglob(evidence["sha256"]))
    assert len(stored) == 1 and stored[0].read_bytes() == b"%PDF-1.4"
    status, data = call(api, "GET", f"/api/v1/cases/{case}/evidence/{evidence['id']}", "c-viewer")
    assert status == 200 and data == b"%PDF-1.4"
    audit = api.db.run_sync(
        lambda s: s.execute(sa.select(AuditEntry.actor, AuditEntry.action)).all()
    )
    assert ("c-viewer", "evidence_download") in audit
    status, _ = call(api, "GET", f"/api/v1/cases/{case}/evidence/999", "c-viewer")
    assert status == 404


def test_a_complaint_is_recorded_by_an_inspector_only(api):
    body = {"unit": "S1", "complaint": "来电投诉窗口排队太久"}
    status, detail = call(api, "POST", "/api/v1/cases", "b1-inspector", body)
    assert status == 201 and (detail["origin"], detail["unit"]) == ("complaint", "B1")
    status, _ = call(api, "POST", "/api/v1/cases", "b1-handler", body)
    assert status == 403
    status, _ = call(api, "POST", "/api/v1/cases", "b1-inspector", {"unit": "S1"})
    assert status == 400


def test_no_token_is_401_and_a_disabled_user_is_refused_after_reload(api):
    assert call(api, "GET", "/api/v1/cases")[0] == 401
    api.db.run_sync(user_store.set_disabled, "b1-handler", True)
    assert call(api, "GET", "/api/v1/cases", "b1-handler")[0] == 200  # until the reload
    api.app.user_tokens.reload()
    assert call(api, "GET", "/api/v1/cases", "b1-handler")[0] == 401


def test_the_ladder_over_http(api):
    case = api.ids["s1_case"]
    url = f"/api/v1/cases/{case}/actions"
    call(api, "POST", url, "b1-inspector", {"action": "start_verify"})
    call(
        api,
        "POST",
        url,
        "b1-inspector",
        {"action": "substantiate", "officers": ["P1"], "finding": "属实"},
    )
    status, body = call(api, "GET", "/api/v1/ladder", "b1-inspector")
    assert status == 200
    [proposal] = body["proposals"]
    assert (proposal["police_number"], proposal["proposed"], proposal["case_ids"]) == (
        "P1",
        "notice",
        [case],
    )
    assert call(api, "GET", "/api/v1/ladder", "b1-handler")[0] == 403
    decision = {
        "case_id": case,
        "police_number": "P1",
        "subject": "officer",
        "decision": "changed",
        "measure": "written_review",
        "reason": "多次被投诉",
    }
    assert call(api, "POST", "/api/v1/ladder/decisions", "b2-handler", decision)[0] == 403
    status, body = call(api, "POST", "/api/v1/ladder/decisions", "b1-inspector", decision)
    assert status == 200 and body["decision"]["measure"] == "written_review"
    status, body = call(api, "POST", "/api/v1/ladder/decisions", "b1-inspector", decision)
    assert status == 409 and "already decided" in body["error"]


def test_manual_callbacks_over_http(api):
    from tests.callbacks.conftest import add_task

    def make(session):
        s1 = session.scalar(sa.select(Unit).where(Unit.code == "S1"))
        s2 = session.scalar(sa.select(Unit).where(Unit.code == "S2"))
        return (
            add_task(session, s1, "13800000001", status="manual").id,
            add_task(session, s2, "13800000002", status="manual").id,
        )

    mine, theirs = api.db.run_sync(make)
    status, body = call(api, "GET", "/api/v1/manual-callbacks?limit=1", "city-inspector")
    assert status == 200 and [r["callback_id"] for r in body["callbacks"]] == [mine]
    assert body["next_after"] == mine
    status, body = call(api, "GET", "/api/v1/manual-callbacks", "b1-inspector")
    assert [r["callback_id"] for r in body["callbacks"]] == [mine]
    assert call(api, "GET", "/api/v1/manual-callbacks", "b1-handler")[0] == 403
    url = f"/api/v1/manual-callbacks/{theirs}/calls"
    assert call(api, "POST", url, "b1-inspector", {"reached": False})[0] == 403
    url = f"/api/v1/manual-callbacks/{mine}/calls"
    assert call(api, "POST", url, "b1-inspector", {"reached": "yes"})[0] == 400
    status, body = call(
        api, "POST", url, "b1-inspector", {"reached": True, "reason_key": "2", "consent": True}
    )
    assert status == 200 and (body["status"], body["reached"]) == ("manual", True)
    status, body = call(api, "GET", "/api/v1/manual-callbacks", "b1-inspector")
    assert body["callbacks"] == []


def test_the_inbox_is_per_role(api):
    case = api.ids["s1_case"]
    url = f"/api/v1/cases/{case}/actions"
    _, body = call(api, "GET", "/api/v1/cases?inbox=true", "b1-inspector")
    assert [c["id"] for c in body["cases"]] == [case]
    _, body = call(api, "GET", "/api/v1/cases?inbox=true", "b1-handler")
    assert body["cases"] == []
    call(api, "POST", url, "b1-inspector", {"action": "start_verify"})
    call(
        api,
        "POST",
        url,
        "b1-inspector",
        {"action": "substantiate", "officers": ["P1"], "finding": "属实"},
    )
    _, body = call(api, "GET", "/api/v1/cases?inbox=true", "b1-handler")
    assert [c["id"] for c in body["cases"]] == [case]
    _, body = call(api, "GET", "/api/v1/cases?inbox=true", "b1-inspector")
    assert body["cases"] == []


@pytest.mark.parametrize(
    ("raw", "ctype", "code", "named"),
    [
        (b'{"action": "start_verify"}', "text/plain", 415, "content-type"),
        (b'{"action": "' + b"x" * 300_000 + b'"}', "application/json", 413, "larger than"),
        ('{"action": "核实"}'.encode()[:-4] + b'"}', "application/json", 400, "not JSON"),
        (b"[" * 20_000 + b"]" * 20_000, "application/json", 400, "nested too deeply"),
        (b'["start_verify"]', "application/json", 400, "JSON object"),
    ],
    ids=["wrong content type", "oversized", "broken UTF-8", "deep nesting", "wrong type"],
)
def test_a_bad_action_body_is_refused_with_its_reason(api, raw, ctype, code, named):
    """Each bad body gets its status and a JSON error saying what is wrong; the case is
    unchanged."""
    case = api.ids["s1_case"]
    _, before = call(api, "GET", f"/api/v1/cases/{case}", "b1-inspector")
    status, detail = call(
        api, "POST", f"/api/v1/cases/{case}/actions", "b1-inspector", raw=raw, ctype=ctype
    )
    assert status == code and named in detail["error"]
    assert call(api, "GET", f"/api/v1/cases/{case}", "b1-inspector")[1] == before
