"""The daemon end to end against the third-party SMSC (node-smpp), on both storage back-ends.

An event comes in (RabbitMQ on PostgreSQL; the intake's body door on SQLite, as the file and
HTTP doors use it), the survey SMS reaches the peer as UCS2 with the rendered text, the peer's
citizen answers "3 接警太慢", and the daemon stores the rating and the callback task.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import reactor

from gateway.app import make_service
from gateway.config import load_settings
from gateway.simulate.clock import ScaledClock
from storage import migrate
from storage import models as m
from storage.db import Database
from storage.units import import_file
from tests.smpp.conftest import start_peer
from tests.surveys.amqp_support import Broker, unique_settings, wait_until

REPO = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    return "postgresql", request.getfixturevalue("pg_url")


@pytest.fixture
def citizen_peer():
    peer = start_peer("--reply", "3 接警太慢")
    yield peer
    peer.process.terminate()
    peer.process.wait(timeout=5)


def rows(url: str, query):
    db = Database(url)
    try:
        return db.run_sync(lambda s: s.execute(query).all())
    finally:
        db.stop()


@pytest_twisted.inlineCallbacks
def test_event_to_sms_to_reply_to_callback_task(backend, citizen_peer, tmp_path, request):
    kind, url = backend
    migrate.upgrade(url)
    setup = Database(url)
    for name in ("units.csv", "officers.csv"):
        setup.run_sync(import_file, (REPO / "conf" / name).read_text("utf-8"), name)
    setup.stop()

    env = {
        "PINGJING_SERVICE_DATA_DIR": str(tmp_path),
        "PINGJING_DATABASE_URL": url,
        "PINGJING_SMPP_PORT": str(citizen_peer.port),
        "PINGJING_SMPP_SYSTEM_ID": "citizen",
        "PINGJING_SMPP_PASSWORD": "secret",
        "PINGJING_HTTP_ENABLED": "false",
        "PINGJING_AMI_PORT": "1",  # no PBX in this test: the callback task waits
    }
    broker = amqp = None
    if kind == "postgresql":
        amqp_params = request.getfixturevalue("amqp_params")
        amqp = unique_settings(amqp_params)
        env.update(
            {
                "PINGJING_AMQP_ENABLED": "true",
                "PINGJING_AMQP_ENDPOINT": amqp.endpoint,
                "PINGJING_AMQP_QUEUE": amqp.queue,
                "PINGJING_AMQP_DEAD_LETTER_EXCHANGE": amqp.dead_letter_exchange,
                "PINGJING_AMQP_DEAD_LETTER_QUEUE": amqp.dead_letter_queue,
            }
        )
        broker = yield Broker.connect(amqp_params)
    settings = load_settings(REPO / "conf" / "pingjing.toml", env=env)

    # Business time: 11:00 in Shanghai today, inside the sending hours whenever the test runs.
    today = datetime.now(ZONE).date()
    eleven = datetime.combine(today, datetime.min.time(), ZONE) + timedelta(hours=11)
    clock = ScaledClock(reactor, 1.0, start=eleven.timestamp())
    app = make_service(settings, reactor=reactor, clock=clock)
    event = {
        "event_id": f"JJ-{kind}-1",
        "category": "接处警",
        "business": "纠纷求助",
        "unit_code": "530402501000",
        "officer_ids": ["100015"],
        "citizen_phone": "+86 138-1234-5678",
        "occurred_at": (eleven - timedelta(hours=2)).isoformat(),
        "closed_at": (eleven - timedelta(hours=1)).isoformat(),
    }
    app.startService()
    try:
        if kind == "postgresql":
            yield app.amqp.when_consuming()
            broker.publish(amqp.queue, json.dumps(event, ensure_ascii=False))
        else:
            result = yield app.intake.ingest_body(json.dumps(event).encode(), "file")
            assert result.status == "accepted"

        yield wait_until(lambda: citizen_peer.of("reply_sent"), timeout=20)
        [submit] = [s for s in citizen_peer.of("submit") if s["destination"] == "13812345678"]
        assert submit["data_coding"] == 8
        assert submit["message"].startswith("【某某公安】")
        assert "玉兴派出所" in submit["message"] and "1满意" in submit["message"]

        def settled() -> bool:
            found = rows(url, sa.select(m.CallbackTask.trigger))
            return bool(found)

        yield wait_until(settled, timeout=20, step=0.1)
        [(status, rating, comment)] = rows(
            url, sa.select(m.Survey.status, m.Survey.rating, m.Survey.comment)
        )
        assert (status, rating, comment) == ("replied", "unsatisfied", "接警太慢")
        [(trigger, phone)] = rows(url, sa.select(m.CallbackTask.trigger, m.CallbackTask.phone))
        assert (trigger, phone) == ("unsatisfied", "13812345678")
        [(text,)] = rows(url, sa.select(m.InboundMessage.text))
        assert text == "3 接警太慢"
    finally:
        yield app.stopService()
        if broker is not None:
            yield broker.cleanup(amqp)
