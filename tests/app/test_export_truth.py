"""Issue 12's scenario end to end: a third-party SMSC (node-smpp) answers each submit_sm at once
and the citizen's reply follows within milliseconds, often before the gateway has committed the
submit_sm_resp; ``pingjing export surveys`` must still show, for every survey, the status and
the three times the traffic proves. Both storage back-ends."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import reactor

from gateway.app import make_service
from gateway.cli import main
from gateway.config import load_settings
from gateway.simulate.clock import ScaledClock
from storage import migrate
from storage import models as m
from storage.db import Database
from storage.units import import_file
from tests.smpp.conftest import start_peer
from tests.surveys.amqp_support import wait_until

REPO = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Asia/Shanghai")
# destination → what the citizen sends back, at once after the receipt
REPLIES = {
    "13800000001": ["TD"],
    "13800000002": ["1"],
    "13800000003": ["1", "1"],
    "13800000004": [],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'truth.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def fast_citizens():
    peer = start_peer("--replies", json.dumps(REPLIES), "--reply-delay", "0")
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
def test_export_shows_what_the_traffic_proves(url, fast_citizens, tmp_path, capsys):
    """TD → opted_out with sent, delivered and replied times; a rating → replied, sent before
    replied; the same rating twice → no comment and a duplicate inbound row; no reply →
    delivered. Whatever order the answers were committed in."""
    migrate.upgrade(url)
    setup = Database(url)
    for name in ("units.csv", "officers.csv"):
        setup.run_sync(import_file, (REPO / "conf" / name).read_text("utf-8"), name)
    setup.stop()
    env = {
        "PINGJING_SERVICE_DATA_DIR": str(tmp_path),
        "PINGJING_DATABASE_URL": url,
        "PINGJING_SMPP_PORT": str(fast_citizens.port),
        "PINGJING_SMPP_SYSTEM_ID": "citizen",
        "PINGJING_SMPP_PASSWORD": "secret",
        "PINGJING_SMPP_RECEIPT_TIMEZONE": "UTC",  # node-smpp's peer writes UTC dates
        "PINGJING_HTTP_ENABLED": "false",
        "PINGJING_AMI_PORT": "1",
    }
    settings = load_settings(REPO / "conf" / "pingjing.toml", env=env)
    # The gateway's clock must be inside the sending hours. The peer writes receipts' done
    # dates from the real clock: a pinned time less than two hours after the real one would
    # make a believable done date before the SMS was sent. So: the real time when it is inside
    # the sending hours, else 11:00, far enough from any time outside them (08:00 to 21:00).
    real = datetime.now(ZONE)
    if time(8, 0) <= real.time() < time(20, 50):
        eleven = real
    else:
        eleven = datetime.combine(real.date(), datetime.min.time(), ZONE) + timedelta(hours=11)
    clock = ScaledClock(reactor, 1.0, start=eleven.timestamp())
    app = make_service(settings, reactor=reactor, clock=clock)
    app.startService()
    try:
        for i, phone in enumerate(REPLIES):
            event = {
                "event_id": f"TRUTH-{i}",
                "category": "接处警",
                "business": "纠纷求助",
                "unit_code": "530402501000",
                "officer_ids": ["100015"],
                "citizen_phone": phone,
                "occurred_at": (eleven - timedelta(hours=2)).isoformat(),
                "closed_at": (eleven - timedelta(hours=1)).isoformat(),
            }
            result = yield app.intake.ingest_body(json.dumps(event).encode(), "file")
            assert result.status == "accepted"

        def settled() -> bool:
            statuses = dict(rows(url, sa.select(m.Survey.phone, m.Survey.status)))
            handled = rows(
                url, sa.select(m.InboundMessage.id).where(m.InboundMessage.match_status == "new")
            )
            inbound = rows(url, sa.select(m.InboundMessage.id))
            return (
                len(inbound) == 4
                and not handled
                and statuses.get("13800000004") == "delivered"
                and statuses.get("13800000001") == "opted_out"
            )

        yield wait_until(settled, timeout=30, step=0.1)
    finally:
        yield app.stopService()

    config = tmp_path / "pj.toml"
    config.write_text(
        f'[service]\ndata_dir = "{tmp_path}"\n[database]\nurl = "{url}"\n'
        '[smpp]\nsystem_id = "citizen"\n',
        "utf-8",
    )
    assert main(["export", "surveys", "--config", str(config), "--format", "jsonl"]) == 0
    records = {r["event_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}

    def times(record):
        return [
            datetime.fromisoformat(record[k]) if record[k] else None
            for k in ("sent_at", "delivered_at", "replied_at")
        ]

    opted, rated, twice, silent = (records[f"TRUTH-{i}"] for i in range(4))
    assert opted["status"] == "opted_out"
    assert rated["status"] == twice["status"] == "replied"
    assert silent["status"] == "delivered"
    for record in (opted, rated, twice):
        sent, delivered, replied = times(record)
        assert None not in (sent, delivered, replied), record
        assert sent <= replied and sent <= delivered, record
    sent, delivered, replied = times(silent)
    assert sent <= delivered and replied is None
    assert (rated["rating"], twice["rating"], twice["comment"]) == ("satisfied", "satisfied", None)
    marks = sorted(r[0] for r in rows(url, sa.select(m.InboundMessage.match_status)))
    assert marks == ["duplicate", "matched", "matched", "opt_out"]
