"""AMQP → intake → database → outbox → (fake) SMPP → reply → rating and callback task.

On both storage back-ends, through the real RabbitMQ. The real SMSC peer is exercised by the
SMPP and demo tests; here the SMPP service is the contract fake.
"""

import json
from datetime import UTC, datetime

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import reactor

from gateway.amqp.consumer import EventConsumer
from gateway.simulate.clock import ScaledClock
from gateway.smpp.api import InboundSms
from gateway.surveys.intake import EventIntake
from gateway.surveys.pipeline import SurveyPipeline
from storage import models as m
from storage.events_store import SqlEventStore
from storage.survey_store import SqlSurveyStore
from tests.surveys.amqp_support import Broker, unique_settings, wait_until
from tests.surveys.fake_smpp import FakeSmppService

pytestmark = pytest.mark.rabbitmq


def rows(db, model):
    return db.run_sync(lambda s: s.scalars(sa.select(model)).all())


@pytest_twisted.inlineCallbacks
def test_event_from_rabbitmq_to_rating_and_callback_task(db, settings, amqp_params):
    at = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 Shanghai
    clock = ScaledClock(reactor, 1.0, start=at.timestamp())  # a daytime 'now', any hour
    smpp = FakeSmppService()
    pipeline = SurveyPipeline(db, smpp, settings, store=SqlSurveyStore(), clock=clock)
    intake = EventIntake(db, settings, store=SqlEventStore(), clock=clock, on_queued=pipeline.kick)
    amqp = unique_settings(amqp_params)
    consumer = EventConsumer(amqp, lambda body: intake.ingest_body(body, "amqp"), reactor=reactor)
    smpp.add_availability_observer(consumer.set_available)
    broker = yield Broker.connect(amqp_params)
    pipeline.startService()
    consumer.startService()
    try:
        yield consumer.when_consuming()
        event = {
            "event_id": "JJ-1",
            "category": "接处警",
            "business": "纠纷求助",
            "unit_code": "330102001",
            "officer_ids": ["P001", "P002"],
            "citizen_phone": "+86 138-1234-5678",
            "occurred_at": "2026-03-02T10:00:00+08:00",
            "closed_at": "2026-03-02T11:00:00+08:00",
        }
        broker.publish(amqp.queue, json.dumps(event, ensure_ascii=False))
        broker.publish(amqp.queue, json.dumps(event, ensure_ascii=False))  # a duplicate
        broker.publish(amqp.queue, json.dumps({**event, "event_id": "JJ-2", "category": "?"}))
        yield wait_until(lambda: len(smpp.submitted) == 1)
        [sms] = smpp.submitted
        assert sms.destination == "13812345678"
        assert sms.text.startswith("【某某公安】") and "城关派出所" in sms.text
        yield wait_until(lambda: not consumer._in_flight)
        yield pipeline.idle()
        dead = yield broker.get(amqp.dead_letter_queue)
        assert "category" in dead.content.properties["headers"]["x-pingjing-reason"]
        assert len(rows(db, m.ServiceEvent)) == 1

        def store_reply(session):
            row = m.InboundMessage(
                source_addr="8613812345678",
                destination_addr="1069",
                data_coding=8,
                raw_hex="",
                text="3 接警太慢",
                received_at=at,
            )
            session.add(row)
            session.flush()
            return row.id

        inbound_id = db.run_sync(store_reply)
        yield smpp.deliver_reply(
            InboundSms(inbound_id, "8613812345678", "1069", "3 接警太慢", False, at)
        )[0]
        yield pipeline.idle()
        [survey] = rows(db, m.Survey)
        assert (survey.status, survey.rating, survey.comment) == (
            "replied",
            "unsatisfied",
            "接警太慢",
        )
        [task] = rows(db, m.CallbackTask)
        assert (task.survey_id, task.trigger) == (survey.id, "unsatisfied")
        assert [s.text for s in smpp.submitted[1:]] == [
            "【某某公安】感谢您的评价，我们将尽快回访了解情况，请留意来电。"
        ]
    finally:
        yield consumer.stopService()
        yield pipeline.stopService()
        yield broker.cleanup(amqp)
