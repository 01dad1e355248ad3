"""The supervisors' callback API: scope checks, JSON errors, audit rows, audio streaming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer, protocol, reactor
from twisted.internet.address import IPv4Address
from twisted.web.client import Agent, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest

from gateway.config import ApiToken
from gateway.http.api import ApiNode
from gateway.http.auth import bearer_authenticator
from gateway.http.callbacks import callback_api
from storage.api_store import SqlApiStore
from storage.db import Database
from storage.models import AuditEntry, Base, CallAttempt, CallbackTask, Recording, Unit
from tests.callbacks.conftest import SyncDatabase, add_task, add_unit

SH = ZoneInfo("Asia/Shanghai")
AUDIO = b"RIFF" + b"\x00" * 40 + b"fake audio frames"
TOKENS = [
    ApiToken(name="inspectorate", token="tok-all"),
    ApiToken(name="bureau-b1", token="tok-b1", unit="B1"),
    ApiToken(name="station-s1", token="tok-s1", unit="S1"),
    ApiToken(name="ghost", token="tok-ghost", unit="NOPE"),
]


def seed(session: sa.orm.Session, audio_dir: Path) -> dict[str, int]:
    """B1 has stations S1 and S2; each has one callback with a recording."""
    city = add_unit(session, "C0")
    b1 = add_unit(session, "B1", city)
    out: dict[str, int] = {}
    for code in ("S1", "S2"):
        unit = add_unit(session, code, b1)
        task = add_task(session, unit, "13812345678")
        attempt = CallAttempt(callback_id=task.id, attempt_number=1, channel_id=f"pj-{code}")
        session.add(attempt)
        session.flush()
        path = audio_dir / f"{code}.wav"
        path.write_bytes(AUDIO)
        rec = Recording(
            call_attempt_id=attempt.id, path=str(path), size_bytes=len(AUDIO), sha256="0" * 64
        )
        session.add(rec)
        session.flush()
        out[f"task_{code}"], out[f"rec_{code}"] = task.id, rec.id
    return out


def make_root(db: Any, audio_dir: Path | None = None) -> Resource:
    """The API tree as gateway.http.api builds it, with the callback resources on ``v1``."""
    root, api, v1 = ApiNode(), ApiNode(), ApiNode()
    root.putChild(b"api", api)
    api.putChild(b"v1", v1)
    for name, child in callback_api(
        SqlApiStore(db), bearer_authenticator(TOKENS), SH, str(audio_dir) if audio_dir else None
    ).items():
        v1.putChild(name, child)
    return root


class Reply:
    def __init__(self, request: DummyRequest) -> None:
        self.code = request.responseCode or 200
        self.body = b"".join(request.written)
        self.headers = request.responseHeaders

    def json(self) -> Any:
        return json.loads(self.body)


def get(root: Resource, url: str, token: str | None = None, method: bytes = b"GET") -> Reply:
    parts = urlsplit(url)
    request = DummyRequest([p.encode() for p in parts.path.lstrip("/").split("/")])
    request.method = method
    request.client = IPv4Address("TCP", "192.168.1.1", 40000)
    request.uri = url.encode()
    request.args = {k.encode(): [x.encode() for x in v] for k, v in parse_qs(parts.query).items()}
    if token is not None:
        request.requestHeaders.addRawHeader(b"authorization", f"Bearer {token}".encode())
    resource = getChildForRequest(root, request)
    body = resource.render(request)
    if isinstance(body, bytes):
        request.write(body)
        request.finish()
    assert request.finished, "the resource left the request open"
    return Reply(request)


@pytest.fixture
def world(db: SyncDatabase, tmp_path: Path) -> tuple[Resource, dict[str, int], SyncDatabase]:
    ids = db.run_sync(seed, tmp_path)
    return make_root(db, tmp_path), ids, db


def audit_rows(db: SyncDatabase) -> list[tuple[str, str, str, str]]:
    return db.run_sync(
        lambda s: [
            (a.actor, a.action, a.object_type, a.object_id)
            for a in s.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
        ]
    )


def audit_details(db: SyncDatabase) -> list[dict[str, Any]]:
    return db.run_sync(
        lambda s: [a.detail for a in s.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]
    )


def test_missing_token_is_401_json(world: Any) -> None:
    """No token: 401 with a JSON error saying how to authenticate."""
    root, _, _ = world
    reply = get(root, "/api/v1/callbacks")
    assert reply.code == 401
    assert "Authorization: Bearer" in reply.json()["error"]
    assert reply.headers.getRawHeaders(b"www-authenticate") == [b'Bearer realm="pingjing"']


def test_unknown_token_is_401(world: Any) -> None:
    """A token nobody configured: 401."""
    root, _, _ = world
    assert get(root, "/api/v1/callbacks", "tok-wrong").code == 401


def test_inspectorate_sees_every_unit(world: Any) -> None:
    """The inspectorate token lists the callbacks of every unit, phones masked."""
    root, ids, _ = world
    reply = get(root, "/api/v1/callbacks", "tok-all")
    assert reply.code == 200
    body = reply.json()
    assert [c["callback_id"] for c in body["callbacks"]] == [ids["task_S1"], ids["task_S2"]]
    assert {c["phone"] for c in body["callbacks"]} == {"138****5678"}
    assert body["callbacks"][0]["recording_url"] == f"/api/v1/recordings/{ids['rec_S1']}"
    assert "recording_path" not in body["callbacks"][0]


def test_unit_token_sees_only_its_subtree(world: Any) -> None:
    """A station's token lists only its own callbacks; the bureau's token both stations'."""
    root, ids, _ = world
    s1 = get(root, "/api/v1/callbacks", "tok-s1").json()["callbacks"]
    assert [c["callback_id"] for c in s1] == [ids["task_S1"]]
    b1 = get(root, "/api/v1/callbacks", "tok-b1").json()["callbacks"]
    assert len(b1) == 2


def test_unit_token_cannot_ask_for_sibling(world: Any) -> None:
    """S1's token asking for unit S2 (its sibling) is refused with 403 naming both."""
    root, _, _ = world
    reply = get(root, "/api/v1/callbacks?unit=S2", "tok-s1")
    assert reply.code == 403
    assert reply.json() == {"error": "token 'station-s1' (unit 'S1') may not read unit 'S2'"}


def test_unit_filter_within_scope(world: Any) -> None:
    """B1's token may narrow to its station S2."""
    root, ids, _ = world
    reply = get(root, "/api/v1/callbacks?unit=S2", "tok-b1")
    assert [c["callback_id"] for c in reply.json()["callbacks"]] == [ids["task_S2"]]


def test_bad_filters_are_400(world: Any) -> None:
    """Bad filters name the parameter: date, status, limit, unknown unit."""
    root, _, _ = world
    cases = {
        "/api/v1/callbacks?from=soon": "from='soon' is not a date",
        "/api/v1/callbacks?status=done": "status='done' is not one of",
        "/api/v1/callbacks?limit=0": "'limit'='0' must be 1..5000",
        "/api/v1/callbacks?unit=ZZ": "unit 'ZZ' does not exist",
    }
    for url, message in cases.items():
        reply = get(root, url, "tok-all")
        assert reply.code == 400, url
        assert message in reply.json()["error"], url


def test_paging(world: Any) -> None:
    """limit and after page through the list."""
    root, ids, _ = world
    first = get(root, "/api/v1/callbacks?limit=1", "tok-all").json()
    assert first["next_after"] == ids["task_S1"]
    second = get(root, f"/api/v1/callbacks?limit=1&after={first['next_after']}", "tok-all")
    assert [c["callback_id"] for c in second.json()["callbacks"]] == [ids["task_S2"]]
    assert second.json()["next_after"] is None


def test_token_of_unknown_unit_is_403(world: Any) -> None:
    """A token scoped to a unit that does not exist sees nothing and is told why."""
    root, _, _ = world
    reply = get(root, "/api/v1/callbacks", "tok-ghost")
    assert reply.code == 403
    assert "'NOPE', which does not exist" in reply.json()["error"]


def test_recording_fetch_streams_audio_and_audits(world: Any) -> None:
    """The owner unit's token gets the audio; the fetch is in the audit log."""
    root, ids, db = world
    reply = get(root, f"/api/v1/recordings/{ids['rec_S1']}", "tok-s1")
    assert reply.code == 200
    assert reply.body == AUDIO
    assert reply.headers.getRawHeaders(b"content-type")[0].startswith(b"audio/")
    assert audit_rows(db) == [("station-s1", "recording.served", "recording", str(ids["rec_S1"]))]
    detail = db.run_sync(lambda s: s.scalars(sa.select(AuditEntry)).one().detail)
    assert detail["unit_code"] == "S1"
    assert detail["callback_id"] == ids["task_S1"]


def test_sibling_recording_is_403_and_audited(world: Any) -> None:
    """S1's token cannot fetch S2's recording: 403, no audio, the refusal is audited."""
    root, ids, db = world
    reply = get(root, f"/api/v1/recordings/{ids['rec_S2']}", "tok-s1")
    assert reply.code == 403
    assert "may not fetch recording" in reply.json()["error"]
    assert "of unit 'S2'" in reply.json()["error"]
    assert AUDIO not in reply.body
    assert audit_rows(db) == [("station-s1", "recording.denied", "recording", str(ids["rec_S2"]))]


def test_a_parent_units_token_fetches_recordings_below_it_and_each_fetch_is_audited(
    world: Any,
) -> None:
    """B1's token gets both stations' audio; every fetch (the same one twice too) is a row
    naming the token, the recording and when."""
    root, ids, db = world
    for rec in ("rec_S1", "rec_S2", "rec_S2"):
        reply = get(root, f"/api/v1/recordings/{ids[rec]}", "tok-b1")
        assert (reply.code, reply.body) == (200, AUDIO)
    assert audit_rows(db) == [
        ("bureau-b1", "recording.served", "recording", str(ids["rec_S1"])),
        ("bureau-b1", "recording.served", "recording", str(ids["rec_S2"])),
        ("bureau-b1", "recording.served", "recording", str(ids["rec_S2"])),
    ]
    assert all(
        at is not None for at in db.run_sync(lambda s: s.scalars(sa.select(AuditEntry.at)).all())
    )


def test_a_stations_token_cannot_list_its_parents_callbacks(
    db: SyncDatabase, tmp_path: Path
) -> None:
    """Scope goes down the tree, never up: S1's token does not see B1's own callback."""
    ids = db.run_sync(seed, tmp_path)
    own = db.run_sync(
        lambda s: (
            add_task(s, s.scalars(sa.select(Unit).where(Unit.code == "B1")).one(), "13800001111").id
        )
    )
    root = make_root(db, tmp_path)
    s1 = [c["callback_id"] for c in get(root, "/api/v1/callbacks", "tok-s1").json()["callbacks"]]
    b1 = [c["callback_id"] for c in get(root, "/api/v1/callbacks", "tok-b1").json()["callbacks"]]
    assert s1 == [ids["task_S1"]]
    assert own in b1
    reply = get(root, "/api/v1/callbacks?unit=B1", "tok-s1")
    assert reply.code == 403


def test_recording_without_token_is_401_and_audited_as_unauthenticated(world: Any) -> None:
    """No token: 401, and the attempt is recorded with the actor ``anonymous``."""
    root, ids, db = world
    assert get(root, f"/api/v1/recordings/{ids['rec_S1']}").code == 401
    assert audit_rows(db) == [
        ("anonymous", "recording.unauthenticated", "recording", str(ids["rec_S1"]))
    ]
    assert audit_details(db)[0]["credentials"] == "none"


def test_an_unknown_token_is_audited_without_its_value(world: Any) -> None:
    """A wrong token is recorded as an unknown bearer token; the token itself is not stored."""
    root, ids, db = world
    assert get(root, f"/api/v1/recordings/{ids['rec_S1']}", "tok-guessed").code == 401
    [detail] = audit_details(db)
    assert detail["credentials"] == "an unknown bearer token"
    assert "tok-guessed" not in json.dumps(detail)


def test_unknown_recording_is_404_and_audited_as_not_found(world: Any) -> None:
    """A number that is no recording: 404 JSON, audited as ``recording.not_found``."""
    root, _, db = world
    reply = get(root, "/api/v1/recordings/999999", "tok-all")
    assert (reply.code, reply.json()) == (404, {"error": "recording 999999 does not exist"})
    assert audit_rows(db) == [("inspectorate", "recording.not_found", "recording", "999999")]


@pytest.mark.parametrize(
    "path", ["/api/v1/recordings/abc", "/api/v1/recordings/1/extra", "/api/v1/recordings"]
)
def test_a_malformed_recording_request_is_404_and_audited_as_malformed(
    world: Any, path: str
) -> None:
    """Not ``/recordings/{number}``: 404, and a row saying the request was malformed."""
    root, _, db = world
    reply = get(root, path, "tok-all")
    assert reply.code == 404
    [(actor, action, _, _)] = audit_rows(db)
    assert (actor, action) == ("inspectorate", "recording.malformed")


def test_another_method_is_405_and_audited_as_malformed(world: Any) -> None:
    """``DELETE /recordings/{id}``: 405 with Allow, recorded as malformed."""
    root, ids, db = world
    reply = get(root, f"/api/v1/recordings/{ids['rec_S1']}", "tok-all", method=b"DELETE")
    assert reply.code == 405
    assert reply.headers.getRawHeaders(b"allow") == [b"GET, HEAD"]
    assert audit_rows(db) == [
        ("inspectorate", "recording.malformed", "recording", str(ids["rec_S1"]))
    ]


def test_every_audit_row_names_the_clients_address(world: Any) -> None:
    """Each kind of request records where it came from."""
    root, ids, db = world
    get(root, f"/api/v1/recordings/{ids['rec_S1']}")
    get(root, f"/api/v1/recordings/{ids['rec_S1']}", "tok-s1")
    get(root, "/api/v1/recordings/x", "tok-s1")
    assert {d["remote"] for d in audit_details(db)} == {"192.168.1.1"}


def test_missing_audio_file_is_404_and_audited_as_not_found(world: Any) -> None:
    """A recording row whose file is gone: 404 saying so; not recorded as served."""
    root, ids, db = world
    path = Path(
        world[2].run_sync(lambda s: s.get(Recording, ids["rec_S1"]).path)  # type: ignore[union-attr]
    )
    path.unlink()
    reply = get(root, f"/api/v1/recordings/{ids['rec_S1']}", "tok-all")
    assert reply.code == 404
    assert "audio file is missing" in reply.json()["error"]
    assert audit_rows(db) == [
        ("inspectorate", "recording.not_found", "recording", str(ids["rec_S1"]))
    ]
    assert audit_details(db)[0]["reason"] == "its audio file is missing"


def test_recording_outside_store_is_refused_and_audited_as_not_found(
    db: SyncDatabase, tmp_path: Path
) -> None:
    """With a recordings directory configured, a path outside it is never served."""
    ids = db.run_sync(seed, tmp_path)
    root = make_root(db, tmp_path / "elsewhere")
    reply = get(root, f"/api/v1/recordings/{ids['rec_S1']}", "tok-all")
    assert reply.code == 404
    assert AUDIO not in reply.body
    assert [a for _, a, _, _ in audit_rows(db)] == ["recording.not_found"]
    assert audit_details(db)[0]["reason"] == "its path is outside the recordings folder"


def test_nothing_is_served_when_the_audit_row_cannot_be_written(
    db: SyncDatabase, tmp_path: Path, no_logged_failures: list[dict[str, Any]]
) -> None:
    """No fetch goes unrecorded: a failing audit write answers 503 without the audio."""
    ids = db.run_sync(seed, tmp_path)

    class BrokenAudit(SqlApiStore):
        def audit(self, record: Any) -> defer.Deferred[None]:
            return defer.fail(RuntimeError("disk full"))

    root, api, v1 = ApiNode(), ApiNode(), ApiNode()
    root.putChild(b"api", api)
    api.putChild(b"v1", v1)
    for name, child in callback_api(BrokenAudit(db), bearer_authenticator(TOKENS), SH).items():
        v1.putChild(name, child)
    reply = get(root, f"/api/v1/recordings/{ids['rec_S1']}", "tok-all")
    assert reply.code == 503 and AUDIO not in reply.body
    assert "audit" in reply.json()["error"]
    assert [str(e["log_failure"].value) for e in no_logged_failures] == ["disk full"]
    no_logged_failures.clear()


def test_from_later_than_to_is_400(world: Any) -> None:
    """An empty or inverted period is a mistake to be told, not an empty list."""
    root, _, _ = world
    reply = get(root, "/api/v1/callbacks?from=2026-11-02&to=2026-11-01", "tok-all")
    assert reply.code == 400
    assert "'from' must be earlier than 'to'" in reply.json()["error"]


class _Body(protocol.Protocol):
    """Collects a response body. Twisted's ``readBody`` warns (a deprecation) when the
    response's transport has no ``abortConnection``, as the HTTP/1.1 client's proxy has not."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Any = None) -> None:
        if reason is None or reason.check(ResponseDone):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


def read_body(response: Any) -> defer.Deferred[bytes]:
    body = _Body()
    response.deliverBody(body)
    return body.done


@pytest_twisted.inlineCallbacks
def test_over_a_real_socket(tmp_path: Path) -> Any:
    """Through a real Site on 127.0.0.1 and the real thread-pool Database: list, then fetch."""
    url = f"sqlite:///{tmp_path / 'http.db'}"
    database = Database(url)
    Base.metadata.create_all(database.engine)
    ids = database.run_sync(seed, tmp_path)
    port = reactor.listenTCP(0, Site(make_root(database, tmp_path)), interface="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port.getHost().port}"
        agent = Agent(reactor)
        auth = Headers({b"authorization": [b"Bearer tok-b1"]})
        response = yield agent.request(b"GET", f"{base}/api/v1/callbacks".encode(), auth)
        body = json.loads((yield read_body(response)))
        assert response.code == 200
        assert len(body["callbacks"]) == 2
        recording = f"{base}/api/v1/recordings/{ids['rec_S2']}".encode()
        response = yield agent.request(b"GET", recording, auth)
        audio = yield read_body(response)
        assert (response.code, audio) == (200, AUDIO)
    finally:
        yield port.stopListening()
        database.stop()


def test_completed_at_is_in_the_service_time_zone(world: Any) -> None:
    """Times come out as the CLI prints them: ISO 8601 in the service's zone (+08:00)."""
    from datetime import UTC, datetime

    root, ids, db = world

    def complete(session: sa.orm.Session) -> None:
        task = session.get(CallbackTask, ids["task_S1"])
        task.status, task.completed_at = "completed", datetime(2026, 11, 27, 2, 40, tzinfo=UTC)

    db.run_sync(complete)
    body = get(root, "/api/v1/callbacks", "tok-all").json()
    by_id = {c["callback_id"]: c for c in body["callbacks"]}
    assert by_id[ids["task_S1"]]["completed_at"] == "2026-11-27T10:40:00+08:00"
    assert by_id[ids["task_S2"]]["completed_at"] is None


def test_a_phone_quoted_back_in_an_error_is_masked(world: Any) -> None:
    """Filters and ids are echoed in errors; a mobile number among them is not shown whole."""
    root, _, _ = world
    for url in (
        "/api/v1/callbacks?from=13812349876",
        "/api/v1/callbacks?limit=13812349876",
        "/api/v1/recordings/13812349876x",
    ):
        reply = get(root, url, "tok-all")
        assert reply.code in (400, 404)
        assert "13812349876" not in reply.json()["error"]
        assert "138****9876" in reply.json()["error"]
