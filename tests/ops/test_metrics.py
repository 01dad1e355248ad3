"""/metrics, /healthz and /readyz over a real SMPP service, a real database and a scrape."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from twisted.web.test.requesthelper import DummyRequest

from gateway.events.schema import validate_event
from gateway.ops.metrics import GatewayCollector, ops_root
from gateway.smpp.api import OutboundSms
from gateway.surveys.settings import SurveySettings
from storage.events_store import store_event
from storage.ops_store import read_depths
from tests.smpp.test_service import make, outcomes, run
from tests.surveys.support import NOW, event_data, make_db

PHONE = "13812345678"


class SyncRunner:
    """``db.run`` at once (the collector only needs a Deferred back)."""

    def __init__(self, db) -> None:
        self.db = db

    def run(self, fn, *args, **kwargs):
        from twisted.internet import defer

        return defer.maybeDeferred(self.db.run_sync, fn, *args, **kwargs)


def scrape(root, path: str) -> tuple[int, str]:
    req = DummyRequest([path.encode()])
    req.method = b"GET"
    resource = root.getChildWithDefault(path.encode(), req)
    body = resource.render(req)
    return (req.responseCode or 200), body.decode()


def world(tmp_path):
    db = make_db(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    settings = SurveySettings(delay_minutes=0)
    event = validate_event(event_data(citizen_phone=PHONE), now=NOW)
    db.run_sync(store_event, event, source="file", settings=settings, now=NOW)
    smpp, smsc, _, clock = make(status_for=lambda n, pdu: 0x0B if n == 2 else 0)
    clock.advance(NOW.timestamp() + 3600 - clock.seconds())
    app = SimpleNamespace(db=SyncRunner(db), smpp=smpp)
    collector = GatewayCollector(app, read_depths, instance="gw-a", clock=clock)
    return db, app, collector, clock, smsc


def test_metrics_count_outcomes_by_reason_and_read_queue_depths(tmp_path) -> None:
    db, app, collector, clock, _ = world(tmp_path)
    results = outcomes([app.smpp.submit(OutboundSms(i, PHONE, "您好")) for i in (1, 2, 3)])
    run(clock, 1)
    assert [r.status for r in results] == ["submitted", "failed", "submitted"]
    collector.latency.observe(0.003)
    collector.refresh()
    status, text = scrape(ops_root(collector), "metrics")
    assert status == 200
    assert 'pingjing_sms_outcomes_total{reason="",status="submitted"} 2.0' in text
    assert 'pingjing_sms_outcomes_total{reason="ESME_RINVDSTADR",status="failed"} 1.0' in text
    assert 'pingjing_link_up{link="smpp-trx"} 1.0' in text
    assert 'pingjing_smpp_wire_marks{what="ahead"} 0.0' in text  # all three written
    assert 'pingjing_smpp_wire_marks{what="reach"} 100.0' in text
    assert 'pingjing_outbox{status="queued"} 1.0' in text  # the survey SMS, due
    [age] = [line for line in text.splitlines() if line.startswith("pingjing_outbox_oldest_due")]
    assert 3600 <= float(age.split()[1]) <= 3602  # queued at NOW, due at once, scraped an hour on
    assert 'pingjing_surveys{status="pending"} 1.0' in text
    assert 'pingjing_db_transaction_seconds_bucket{le="0.005"} 1.0' in text
    assert PHONE not in text and PHONE[-8:] not in text
    db.stop()


def test_readiness_needs_a_recent_database_read_and_a_bind(tmp_path) -> None:
    db, app, collector, clock, _ = world(tmp_path)
    root = ops_root(collector)
    status, body = scrape(root, "readyz")
    assert status == 503 and "database" in body
    collector.refresh()
    assert scrape(root, "readyz")[0] == 200
    assert scrape(root, "healthz") == (200, '{"status": "ok"}')
    clock.advance(timedelta(minutes=1).total_seconds())
    status, body = scrape(root, "readyz")
    assert status == 503 and "not read recently" in body
    collector.refresh()
    app.smpp._tx = None
    status, body = scrape(root, "readyz")
    assert status == 503 and "SMPP" in body
    db.stop()
