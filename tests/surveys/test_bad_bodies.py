"""Bad AMQP bodies at the intake: each is a ``rejected`` result whose reason says what and
where (the consumer dead-letters it with that reason, tests/surveys/test_amqp_consumer.py);
nothing reaches the database."""

from __future__ import annotations

import json

import pytest

from gateway.events.results import REJECTED
from gateway.events.schema import MAX_EVENT_BYTES
from gateway.surveys.intake import EventIntake
from gateway.surveys.settings import SurveySettings
from tests.surveys.support import event_data


class NoDatabase:
    """A bad body must be refused before any transaction."""

    def run(self, *args, **kwargs):
        raise AssertionError("a bad body reached the database")

    run_urgent = run


def good(**changes) -> bytes:
    return json.dumps({**event_data(), **changes}, ensure_ascii=False).encode()


BODIES = [
    ("纠纷".encode("gbk"), "not UTF-8"),
    (b'{"event_id": "E-1", ', "not JSON"),
    (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
    (b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, "nested too deeply"),
    (b" " * (MAX_EVENT_BYTES + 1), f"at most {MAX_EVENT_BYTES}"),
    (b"[1, 2]", "object"),
    (b'"event"', "object"),
    (good(event_id={"id": 1}), "event_id"),
    (good(citizen_phone=13812345678), "citizen_phone"),
    (good(occurred_at=[2026]), "occurred_at"),
    (good(business="户籍").replace("户".encode(), "户".encode()[:2]), "not UTF-8 (invalid"),
]


@pytest.mark.parametrize(("body", "named"), BODIES, ids=[n for _, n in BODIES])
def test_a_bad_body_is_rejected_with_its_reason(body, named):
    intake = EventIntake(NoDatabase(), SurveySettings(), store=None)
    d = intake.ingest_body(body, "amqp")
    result = []
    d.addCallback(result.append)
    (res,) = result
    assert res.status == REJECTED
    assert named in res.reason, res.reason
