"""Every route the daemon mounts: in the OpenAPI document, and scoped as it says.

The routes are read from the resource tree ``gateway.app.make_api_site`` builds (each resource
declares its ``routes``, ``gateway/http/routes.py``), so a route added later is checked here
without changing this file; a new kind of record only needs its placeholder in ``FOREIGN``.
"""

from __future__ import annotations

import dataclasses
import json
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from twisted.internet.address import IPv4Address
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from gateway.app import make_api_site
from gateway.cases.opening import CaseOpening
from gateway.cases.settings import CaseSettings
from gateway.config import ApiToken, load_settings
from gateway.http.openapi import load_document
from gateway.http.routes import Route, declared_routes, undeclared
from gateway.surveys.intake import EventIntake
from storage.case_models import CaseEvidence
from storage.case_rows import open_cases
from storage.events_store import SqlEventStore
from storage.models import CallAttempt, Interview, Officer, Recording, ReportFile
from tests.callbacks.conftest import T0, SyncDatabase, add_task, add_unit

REPO = Path(__file__).resolve().parents[2]
TOKENS = [
    ApiToken(name="inspectorate", token="route-test-all"),
    ApiToken(name="station-s1", token="route-test-s1", unit="S1"),
]


def seed(session: Any, audio_dir: Path) -> dict[str, str]:
    """C0 > B1 > {S1, S2}; S2 has a callback with a recording, a weekly report and a
    约谈 record. Returns the
    placeholders."""
    city = add_unit(session, "C0")
    b1 = add_unit(session, "B1", city)
    add_unit(session, "S1", b1)
    s2 = add_unit(session, "S2", b1)
    task = add_task(session, s2)
    attempt = CallAttempt(callback_id=task.id, attempt_number=1, channel_id="pj-s2")
    session.add(attempt)
    session.flush()
    audio = audio_dir / "s2.wav"
    audio.write_bytes(b"RIFF")
    recording = Recording(
        call_attempt_id=attempt.id, path=str(audio), size_bytes=4, sha256="0" * 64
    )
    session.add(recording)
    report = ReportFile(
        kind="week",
        period_key="2026-W48",
        unit_code="S2",
        fmt="text",
        path=str(audio_dir / "week_S2.txt"),
        size_bytes=0,
        sha256="0" * 64,
    )
    session.add(report)
    interview = Interview(
        unit_code="S2",
        month="2026-10",
        kind="monthly_last",
        interviewees=["分管领导"],
        deduction=0.0,
        status="proposed",
    )
    session.add(interview)
    session.flush()
    officer = Officer(police_number="S2-001", name="民警", unit_id=s2.id)
    session.add(officer)
    session.flush()
    opening = CaseOpening(event_unit_code="S2", origin="complaint", at=T0, complaint="投诉")
    [case_id] = open_cases(session, [opening], CaseSettings(assign_level="unit"))
    evidence = CaseEvidence(
        case_id=case_id,
        sha256="1" * 64,
        filename="e.pdf",
        content_type="application/pdf",
        size_bytes=1,
        uploaded_by="x",
    )
    session.add(evidence)
    session.flush()
    return {
        "foreign_unit": "S2",
        "foreign_recording": str(recording.id),
        "foreign_case": str(case_id),
        "foreign_evidence": str(evidence.id),
        "foreign_officer": officer.police_number,
        "foreign_callback": str(task.id),
        "foreign_report": str(report.id),
        "foreign_interview": str(interview.id),
    }


@pytest.fixture
def site(tmp_path: Path) -> tuple[Resource, dict[str, str]]:
    """The API as the daemon wires it (``make_api_site``), over SQLite and the seed above."""
    env = {"PINGJING_SERVICE_DATA_DIR": str(tmp_path)}
    settings = load_settings(REPO / "conf" / "pingjing.toml", env=env)
    settings = settings.replace(http=dataclasses.replace(settings.http, tokens=TOKENS))
    db = SyncDatabase(f"sqlite:///{tmp_path / 'routes.db'}")
    recordings = settings.ivr.recordings_path(settings.data_dir)
    recordings.mkdir(parents=True, exist_ok=True)
    foreign = db.run_sync(seed, recordings)
    app = SimpleNamespace(db=db, intake=EventIntake(db, settings.survey, store=SqlEventStore()))
    return make_api_site(app, settings).resource, foreign


def request(
    root: Resource, method: str, url: str, token: str | None, body: Any = None, raw: bytes = b""
) -> DummyRequest:
    """``body`` is sent as JSON; ``raw`` as it is, labelled JSON (for bodies JSON cannot make)."""
    parts = urlsplit(url)
    req = DummyRequest([p.encode() for p in parts.path.lstrip("/").split("/")])
    req.method = method.encode()
    req.uri = url.encode()
    req.client = IPv4Address("TCP", "10.1.2.3", 40000)
    req.args = {k.encode(): [x.encode() for x in v] for k, v in parse_qs(parts.query).items()}
    if token is not None:
        req.requestHeaders.addRawHeader(b"authorization", f"Bearer {token}".encode())
    if body is not None or raw:
        req.requestHeaders.addRawHeader(b"content-type", b"application/json")
        req.content = BytesIO(raw or json.dumps(body).encode())
    resource = getChildForRequest(root, req)
    result = resource.render(req)
    if isinstance(result, bytes):
        req.write(result)
        req.finish()
    return req


def fill(value: Any, foreign: dict[str, str]) -> Any:
    """Placeholders replaced by the seed's values; a missing one is named."""
    if isinstance(value, str):
        try:
            return value.format(**foreign)
        except KeyError as exc:
            raise AssertionError(
                f"no seed value for placeholder {exc}: add it to seed() in {__file__}"
            ) from None
    if isinstance(value, dict):
        return {k: fill(v, foreign) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, foreign) for v in value]
    return value


def routes(root: Resource) -> list[Route]:
    return [route for _, _, route in declared_routes(root)]


def test_every_mounted_resource_declares_its_routes(site: Any) -> None:
    """Under /api; the console's HTML pages (/console) are not API routes (tests/console)."""
    root, _ = site
    assert list(undeclared(root.children[b"api"], "/api")) == []
    assert len(routes(root)) >= 4


def test_each_declared_route_lives_where_it_is_mounted(site: Any) -> None:
    root, _ = site
    misplaced = [
        (mount, route.path)
        for mount, _, route in declared_routes(root)
        if not (route.path == mount or route.path.startswith(mount + "/"))
    ]
    assert misplaced == []


def test_the_openapi_document_lists_exactly_the_mounted_routes(site: Any) -> None:
    """No route undocumented, no documented route that does not exist."""
    root, _ = site
    documented = {
        (method.upper(), path)
        for path, operations in load_document()["paths"].items()
        for method in operations
    }
    assert documented == {(r.method, r.path) for r in routes(root)}


def test_the_document_states_each_routes_scope_and_its_refusals(site: Any) -> None:
    """The same scope as the code declares; 401 documented unless public, 403 when unit-scoped."""
    root, _ = site
    paths = load_document()["paths"]
    wrong = []
    for route in routes(root):
        operation = paths[route.path][route.method.lower()]
        responses = operation["responses"]
        if operation.get("x-pingjing-scope") != route.scope:
            wrong.append((route.path, "x-pingjing-scope"))
        if route.scope != "public" and "401" not in responses:
            wrong.append((route.path, "401"))
        if route.scope == "unit" and "403" not in responses:
            wrong.append((route.path, "403"))
        if route.scope == "public" and operation.get("security") != []:
            wrong.append((route.path, "security: [] for a public route"))
    assert wrong == []


def test_every_route_refuses_a_request_without_a_token(site: Any) -> None:
    """401 from each route that is not public, before anything else is looked at."""
    root, _ = site
    answered = {
        (r.method, r.path): request(root, r.method, r.concrete_path(), None).responseCode
        for r in routes(root)
        if r.scope != "public"
    }
    assert answered and set(answered.values()) == {401}, answered


def test_every_unit_scoped_route_refuses_a_unit_token_outside_its_subtree(site: Any) -> None:
    """The S1 token asking for S2's data: 403 from each unit-scoped route."""
    root, foreign = site
    answered = {}
    for route in routes(root):
        if route.scope != "unit":
            continue
        assert route.outside is not None, f"{route.path}: a unit-scoped route needs `outside`"
        path = fill(route.outside.path or route.concrete_path(), foreign)
        query = fill(route.outside.query, foreign)
        url = f"{path}?{query}" if query else path
        body = fill(route.outside.body, foreign)
        req = request(root, route.method, url, "route-test-s1", body)
        answered[(route.method, route.path)] = req.responseCode
    assert answered and set(answered.values()) == {403}, answered


def test_the_document_is_served_as_kept_in_the_repository(site: Any) -> None:
    root, _ = site
    req = request(root, "GET", "/api/v1/openapi.json", "route-test-s1")
    assert req.responseCode == 200
    assert json.loads(b"".join(req.written)) == load_document()
    assert load_document()["openapi"].startswith("3.")


def test_the_document_is_valid_openapi() -> None:
    """Checked against the OpenAPI 3.1 schema, so tools (Swagger UI, generators) can read it."""
    from openapi_spec_validator import validate

    validate(load_document())
