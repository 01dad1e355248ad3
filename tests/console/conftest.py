"""The console as the daemon mounts it (``gateway.app.make_api_site``) over SQLite, served on a
real socket on 127.0.0.1, and a small HTTP client that keeps cookies like a browser."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor, task
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from gateway.app import make_api_site
from gateway.config import load_settings
from gateway.console.users import ConsoleUser, MemoryUserDirectory
from gateway.surveys.intake import EventIntake
from storage.events_store import SqlEventStore
from storage.models import CallAttempt, CallbackTask, Recording, ServiceEvent, Survey, Unit
from tests.callbacks.conftest import SyncDatabase

REPO = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=SH)
PASSWORD = "控制台-pass-2026"


def _wav() -> bytes:
    """Half a second of a quiet 440 Hz tone: real audio a browser can play."""
    import io
    import math
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(
            b"".join(
                int(800 * math.sin(2 * math.pi * 440 * i / 8000)).to_bytes(2, "little", signed=True)
                for i in range(4000)
            )
        )
    return out.getvalue()


AUDIO = _wav()
XSS = "<script>alert('xss')</script>"
USERS = [
    ConsoleUser("insp", "inspector", "", "督察张三"),
    ConsoleUser("h1", "handler", "S1", "派出所李四"),
    ConsoleUser("h2", "handler", "S2", "派出所王五"),
    ConsoleUser("v1", "viewer", "B1", "分局赵六"),
]


def seed(session: Any, audio_dir: Path) -> dict[str, Any]:
    """C0 > B1 > {S1, S2}. Each station: a satisfied reply, an unsatisfied one with a
    completed callback and its recording, and an SMS without a reply. S2's events carry
    ``<script>`` in their business text and comment."""
    units: dict[str, Unit] = {}
    for code, parent in (("C0", None), ("B1", "C0"), ("S1", "B1"), ("S2", "B1")):
        unit = Unit(code=code, name=f"单位{code}", kind="station", parent=units.get(parent or ""))
        session.add(unit)
        session.flush()
        units[code] = unit
    out: dict[str, Any] = {"units": {c: u.id for c, u in units.items()}}
    at = NOW - timedelta(hours=2)
    n = 0
    for code in ("S1", "S2"):
        unit = units[code]
        for status, rating in (
            ("replied", "satisfied"),
            ("replied", "unsatisfied"),
            ("sent", None),
        ):
            n += 1
            phone = f"1381234{n:04d}"
            event = ServiceEvent(
                event_id=f"EV{n:04d}",
                category="incident",
                business=XSS if code == "S2" else "户籍业务",
                unit_id=unit.id,
                citizen_phone=phone,
                occurred_at=at,
                source="demo",
            )
            session.add(event)
            session.flush()
            survey = Survey(
                event_id=event.id,
                unit_id=unit.id,
                category="incident",
                phone=phone,
                decision="selected",
                status=status,
                rating=rating,
                comment=XSS if code == "S2" and rating else None,
                sent_at=at,
                created_at=at,
            )
            session.add(survey)
            session.flush()
            if rating != "unsatisfied":
                continue
            task_row = CallbackTask(
                survey_id=survey.id,
                unit_id=unit.id,
                phone=phone,
                trigger="unsatisfied",
                status="completed",
                attempts=1,
                reason_key="1",
                consent=True,
                completed_at=at + timedelta(minutes=30),
                created_at=at,
            )
            session.add(task_row)
            session.flush()
            attempt = CallAttempt(callback_id=task_row.id, attempt_number=1, channel_id=f"pj-{n}")
            session.add(attempt)
            session.flush()
            path = audio_dir / f"{code}.wav"
            path.write_bytes(AUDIO)
            rec = Recording(
                call_attempt_id=attempt.id, path=str(path), size_bytes=len(AUDIO), sha256="0" * 64
            )
            session.add(rec)
            session.flush()
            out[f"rec_{code}"] = rec.id
            out[f"task_{code}"] = task_row.id
    return out


def read_body(response: Any) -> defer.Deferred[bytes]:
    """The whole body (``readBody`` warns about the transports of non-persistent pools)."""
    done: defer.Deferred[bytes] = defer.Deferred()
    chunks: list[bytes] = []

    class Collect(protocol.Protocol):
        def dataReceived(self, data: bytes) -> None:
            chunks.append(data)

        def connectionLost(self, reason: Any = None) -> None:
            done.callback(b"".join(chunks))

    response.deliverBody(Collect())
    return done


@dataclasses.dataclass
class Reply:
    code: int
    headers: Headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None


class Client:
    """HTTP on a real socket; keeps the cookies the server sets (path and flags ignored)."""

    def __init__(self, base: str, pool: HTTPConnectionPool) -> None:
        self.base = base
        self.agent = Agent(reactor, pool=pool)
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        from io import BytesIO

        from twisted.web.client import FileBodyProducer

        h = Headers({k: [v] for k, v in (headers or {}).items()})
        if self.cookies:
            h.setRawHeaders("cookie", ["; ".join(f"{k}={v}" for k, v in self.cookies.items())])
        producer = None
        if body is not None:
            h.setRawHeaders("content-type", ["application/x-www-form-urlencoded"])
            producer = FileBodyProducer(BytesIO(body))
        response = await self.agent.request(
            method.encode(), (self.base + path).encode(), h, producer
        )
        content = await read_body(response)
        for raw in response.headers.getRawHeaders("set-cookie") or []:
            self.set_cookie_headers.append(raw)
            cookie = SimpleCookie()
            cookie.load(raw)
            for key, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = morsel.value
        return Reply(response.code, response.headers, content)

    async def get(self, path: str, **headers: str) -> Reply:
        return await self.request(
            "GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )

    async def post(self, path: str, fields: dict[str, str]) -> Reply:
        return await self.request("POST", path, urlencode(fields).encode())

    async def sign_in(self, name: str, password: str = PASSWORD) -> Reply:
        form = await self.get("/console/login")
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token, form.text
        return await self.post(
            "/console/login", {"token": token.group(1), "name": name, "password": password}
        )

    def csrf(self, page: Reply) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)


@dataclasses.dataclass
class ConsoleSite:
    base: str
    db: SyncDatabase
    clock: task.Clock
    ids: dict[str, Any]
    app: Any
    pool: HTTPConnectionPool

    def client(self) -> Client:
        return Client(self.base, self.pool)


@pytest.fixture
def console_site(tmp_path: Path) -> Iterator[ConsoleSite]:
    env = {"PINGJING_SERVICE_DATA_DIR": str(tmp_path)}
    settings = load_settings(REPO / "conf" / "pingjing.toml", env=env)
    db = SyncDatabase(f"sqlite:///{tmp_path / 'console.db'}")
    recordings = settings.ivr.recordings_path(settings.data_dir)
    recordings.mkdir(parents=True, exist_ok=True)
    ids = db.run_sync(seed, recordings)
    clock = task.Clock()
    clock.advance(NOW.timestamp())
    users = MemoryUserDirectory((user, PASSWORD) for user in USERS)
    app = SimpleNamespace(
        db=db,
        intake=EventIntake(db, settings.survey, store=SqlEventStore()),
        console_users=users,
        reactor=clock,
    )
    site = make_api_site(app, settings)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    pool = HTTPConnectionPool(reactor, persistent=False)
    yield ConsoleSite(f"http://127.0.0.1:{port.getHost().port}", db, clock, ids, app, pool)
    pytest_twisted.blockon(port.stopListening())
    db.dispose()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    from tests.console.browser import chrome

    yield from chrome()
