"""The in-memory case store behind the real API resource: the same answers as the SQL store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import BytesIO

from twisted.web.test.requesthelper import DummyRequest

from gateway.accounts.model import Role, User
from gateway.cases.opening import CaseOpening
from gateway.cases.settings import CaseSettings
from gateway.http.cases import CasesResource
from tests.fakes.case_store import MemoryCaseStore

NOW = datetime(2026, 11, 20, 2, tzinfo=UTC)
UNITS = {
    "C": (None, "city_bureau"),
    "B1": ("C", "sub_bureau"),
    "S1": ("B1", "station"),
    "B2": ("C", "sub_bureau"),
}
PEOPLE = {
    "insp": User(1, "insp", "督察", "C", Role.INSPECTOR),
    "hand": User(2, "hand", "整改", "B1", Role.HANDLER),
    "other": User(3, "other", "他人", "B2", Role.HANDLER),
}


def resource(store, tmp_path):
    def authenticate(request):
        header = (request.getHeader("authorization") or "").removeprefix("Bearer ")
        return PEOPLE.get(header)

    return CasesResource(store, authenticate, CaseSettings(), str(tmp_path), now=lambda: NOW)


def call(res, method, path, who, body=None):
    req = DummyRequest([p.encode() for p in path.split("/") if p])
    req.method = method.encode()
    req.postpath = [p.encode() for p in path.split("/") if p]
    req.requestHeaders.addRawHeader(b"authorization", f"Bearer {who}".encode())
    if body is not None:
        req.requestHeaders.addRawHeader(b"content-type", b"application/json")
        req.content = BytesIO(json.dumps(body).encode())
    res.render(req)
    return req.responseCode or 200, json.loads(b"".join(req.written))


def test_the_api_over_the_memory_store(tmp_path):
    store = MemoryCaseStore(UNITS)
    case = store.record(CaseOpening("S1", "complaint", NOW, officers=("P1",)))
    res = resource(store, tmp_path)
    status, body = call(res, "GET", "", "hand")
    assert status == 200 and [c["id"] for c in body["cases"]] == [case.id]
    assert call(res, "GET", "", "other")[1]["cases"] == []
    assert call(res, "GET", f"{case.id}", "other")[0] == 403
    call(res, "POST", f"{case.id}/actions", "insp", {"action": "start_verify"})
    status, body = call(
        res,
        "POST",
        f"{case.id}/actions",
        "insp",
        {"action": "substantiate", "officers": ["P1"], "finding": "属实", "version": 2},
    )
    assert status == 200 and body["state"] == "substantiated"
    status, body = call(
        res,
        "POST",
        f"{case.id}/actions",
        "insp",
        {"action": "unsubstantiate", "reason": "x", "version": 2},
    )
    assert status == 409 and body["conflict"] is True
    status, body = call(res, "POST", f"{case.id}/actions", "hand", {"action": "accept"})
    assert status == 403
