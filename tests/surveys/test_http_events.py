"""``POST /api/v1/events`` over a real socket on 127.0.0.1: 202 after commit, 400 per item."""

import json
from dataclasses import dataclass

import pytest_twisted
import sqlalchemy as sa
from twisted.internet import defer, protocol, reactor
from twisted.internet.task import Clock
from twisted.web.client import Agent
from twisted.web.http_headers import Headers

from gateway.http.api import build_api, make_site
from gateway.http.auth import bearer_authenticator
from gateway.surveys.intake import EventIntake
from storage import models as m
from storage.events_store import SqlEventStore
from storage.registry_store import SqlEventRegistry
from tests.surveys.support import NOW, event_data


@dataclass
class Token:
    name: str
    token: str
    unit: str = ""


TOKENS = [Token("inspectorate", "s3cret-all"), Token("chengguan", "s3cret-unit", "330102")]


def serve(db, settings, max_body_bytes=1 << 20):
    clock = Clock()
    clock.advance(NOW.timestamp())
    intake = EventIntake(db, settings, store=SqlEventStore(), clock=clock)
    root, v1 = build_api(
        intake=intake,
        authenticate=bearer_authenticator(TOKENS),
        registry=SqlEventRegistry(db),
        max_body_bytes=max_body_bytes,
    )
    port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
    return port, v1


@pytest_twisted.inlineCallbacks
def post(port, payload, token="s3cret-all", ctype=b"application/json", path=b"/api/v1/events"):
    from io import BytesIO

    from twisted.web.client import FileBodyProducer

    body = (
        payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    )
    headers = {b"content-type": [ctype]}
    if token:
        headers[b"authorization"] = [b"Bearer " + token.encode()]
    url = b"http://127.0.0.1:%d%s" % (port.getHost().port, path)
    response = yield Agent(reactor).request(
        b"POST", url, Headers(headers), FileBodyProducer(BytesIO(body))
    )
    data = yield read_body(response)
    return response.code, json.loads(data) if data else None


class _Collect(protocol.Protocol):
    """Reads a response body (``readBody`` warns about Agent's transport on Twisted 26)."""

    def __init__(self, done):
        self.done, self.chunks = done, []

    def dataReceived(self, data):
        self.chunks.append(data)

    def connectionLost(self, reason):
        self.done.callback(b"".join(self.chunks))


def read_body(response):
    done = defer.Deferred()
    response.deliverBody(_Collect(done))
    return done


def count(db, model):
    return len(db.run_sync(lambda s: s.scalars(sa.select(model)).all()))


@pytest_twisted.inlineCallbacks
def test_one_event_is_accepted_after_commit(sqlite_db, settings):
    port, _ = serve(sqlite_db, settings)
    try:
        code, body = yield post(port, event_data())
        assert code == 202
        assert body == {
            "results": [{"event_id": "E-1", "status": "accepted", "decision": "selected"}]
        }
        assert count(sqlite_db, m.ServiceEvent) == 1
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_batch_reports_duplicates(sqlite_db, settings):
    port, _ = serve(sqlite_db, settings)
    try:
        batch = [
            event_data(),
            event_data(event_id="E-2", citizen_phone="13900000000"),
            event_data(),
        ]
        code, body = yield post(port, batch)
        assert code == 202
        assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "duplicate"]
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_invalid_items_give_400_with_per_item_reasons_and_store_nothing(sqlite_db, settings):
    port, _ = serve(sqlite_db, settings)
    try:
        batch = [
            event_data(),
            event_data(event_id="E-2", category="交通"),
            event_data(event_id="E-3", occurred_at=...),
        ]
        code, body = yield post(port, batch)
        assert code == 400
        assert [(i["index"], i["event_id"]) for i in body["items"]] == [(1, "E-2"), (2, "E-3")]
        assert body["items"][0]["errors"][0]["field"] == "category"
        assert "交通" in body["items"][0]["errors"][0]["reason"]
        assert body["items"][1]["errors"] == [{"field": "occurred_at", "reason": "is required"}]
        assert count(sqlite_db, m.ServiceEvent) == 0
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_unknown_unit_in_batch_rolls_back_everything(sqlite_db, settings):
    port, _ = serve(sqlite_db, settings)
    try:
        code, body = yield post(port, [event_data(), event_data(event_id="E-2", unit_code="999")])
        assert code == 400
        assert body["items"][0]["index"] == 1 and "999" in body["items"][0]["errors"][0]["reason"]
        assert count(sqlite_db, m.ServiceEvent) == 0
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_unit_token_may_submit_only_for_its_subtree(sqlite_db, settings):
    """The 330102 token covers 330102001 but not 330103001: 403, as the callbacks API answers
    the same refusal."""
    port, _ = serve(sqlite_db, settings)
    try:
        code, _ = yield post(port, event_data(), token="s3cret-unit")
        assert code == 202
        other = event_data(event_id="E-2", unit_code="330103001", officer_ids=["P100"])
        code, body = yield post(port, other, token="s3cret-unit")
        assert code == 403
        assert body["items"][0]["errors"] == [
            {
                "field": "unit_code",
                "reason": "'330103001' is outside the units of token 'chengguan'",
            }
        ]
        assert count(sqlite_db, m.ServiceEvent) == 1
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_missing_or_wrong_token_is_401(sqlite_db, settings):
    port, _ = serve(sqlite_db, settings)
    try:
        assert (yield post(port, event_data(), token=None))[0] == 401
        assert (yield post(port, event_data(), token="guess"))[0] == 401
        assert count(sqlite_db, m.ServiceEvent) == 0
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_body_errors_are_named(sqlite_db, settings):
    port, _ = serve(sqlite_db, settings, max_body_bytes=2000)
    try:
        code, body = yield post(port, b"{not json")
        assert code == 400 and "not JSON" in body["error"]
        code, body = yield post(port, "纠纷".encode("gbk"))
        assert code == 400 and "UTF-8" in body["error"]
        assert (yield post(port, event_data(), ctype=b"text/plain"))[0] == 415
        assert (yield post(port, [event_data()] * 20))[0] == 413
        assert (yield post(port, []))[0] == 400
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_deeply_nested_bodies_and_broken_utf8_in_a_string_are_400(sqlite_db, settings):
    """JSON nested thousands deep (Python's reader gives up) and a cut multi-byte character
    inside a value are each named; nothing is stored."""
    port, _ = serve(sqlite_db, settings, max_body_bytes=100_000)
    try:
        code, body = yield post(port, b"[" * 20_000 + b"]" * 20_000)
        assert code == 400 and "nested too deeply" in body["error"]
        raw = json.dumps(event_data(), ensure_ascii=False).encode()
        code, body = yield post(port, raw.replace("户".encode(), "户".encode()[:2], 1))
        assert code == 400 and "UTF-8" in body["error"]
        assert count(sqlite_db, m.ServiceEvent) == 0
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_other_parts_mount_under_v1_and_unknown_paths_are_json_404(sqlite_db, settings):
    from twisted.web.resource import Resource

    class Hello(Resource):
        isLeaf = True

        def render_POST(self, request):
            return b'{"hello": "world"}'

    port, v1 = serve(sqlite_db, settings)
    v1.putChild(b"hello", Hello())
    try:
        assert (yield post(port, {}, path=b"/api/v1/hello")) == (200, {"hello": "world"})
        code, body = yield post(port, {}, path=b"/api/v1/nope")
        assert code == 404 and body == {"error": "no such resource"}
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_a_batch_with_every_kind_of_error_lists_them_all_in_one_answer(sqlite_db, settings):
    """Bad category, misspelt field, unknown unit and unknown officer: all named at once."""
    port, _ = serve(sqlite_db, settings)
    try:
        batch = [
            event_data(),
            event_data(event_id="E-2", category="交通", closed_time="2026-03-02T11:00:00+08:00"),
            event_data(event_id="E-3", unit_code="999", officer_ids=["P001", "P404"]),
            event_data(event_id="E-4", category="nope", unit_code="998", citizen_phone=138),
        ]
        code, body = yield post(port, batch)
        assert code == 400
        found = {
            item["index"]: sorted(e["field"] for e in item["errors"]) for item in body["items"]
        }
        assert found == {
            1: ["category", "closed_time"],
            2: ["officer_ids[1]", "unit_code"],
            3: ["category", "citizen_phone", "unit_code"],
        }
        assert [item["event_id"] for item in body["items"]] == ["E-2", "E-3", "E-4"]
        assert count(sqlite_db, m.ServiceEvent) == 0
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_a_scope_refusal_still_lists_the_other_errors(sqlite_db, settings):
    """403 for the unit outside the token's units, and the format error of another item too."""
    port, _ = serve(sqlite_db, settings)
    try:
        batch = [
            event_data(event_id="E-2", unit_code="330103001", officer_ids=["P100"]),
            event_data(event_id="E-3", occurred_at="13812349876"),
        ]
        code, body = yield post(port, batch, token="s3cret-unit")
        assert code == 403
        assert [i["index"] for i in body["items"]] == [0, 1]
        assert body["items"][1]["errors"][0]["reason"].startswith("'138****9876' is not")
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_a_different_event_under_a_used_id_is_reported_and_the_first_kept(sqlite_db, settings):
    """202, but the result says the content differs and which fields."""
    port, _ = serve(sqlite_db, settings)
    try:
        yield post(port, event_data())
        code, body = yield post(port, event_data(citizen_phone="13900000000"))
        assert code == 202
        [result] = body["results"]
        assert (result["status"], result["differs"]) == ("duplicate", ["citizen_phone"])
        assert "the first event is kept" in result["reason"]
    finally:
        yield port.stopListening()
