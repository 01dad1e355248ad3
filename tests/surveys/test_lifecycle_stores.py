"""The survey lifecycle through the real stores (SQLite and PostgreSQL): whatever order the
SMSC's answer, its receipts and the citizen's replies are committed in, the survey row ends as
the pure lifecycle says (receipt before the submit_sm_resp is recorded, reply before the
receipt, reply before the outcome's commit, two replies in one batch, TD while the SMS is still
``submitting``)."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.events.schema import validate_event
from gateway.smpp.api import InboundSms, ReceiptUpdate, SubmitOutcome
from gateway.surveys import lifecycle as lc
from gateway.surveys.classifier import classify
from gateway.surveys.settings import SurveySettings
from gateway.surveys.sms_events import outcome_event, receipt_event
from storage import models as m
from storage import survey_store as ss
from storage.events_store import store_event
from tests.surveys.support import NOW, event_data

SETTINGS = SurveySettings()
TEXTS = ("1", "1", "3 民警态度不好", "TD", "哈哈", "2 还行")
_numbers = itertools.count(1)
FIELDS = (
    "status",
    "sent_at",
    "delivered_at",
    "replied_at",
    "expires_at",
    "rating",
    "comment",
    "clarification_sent",
    "failure_reason",
)


def at(seconds: float):
    return NOW + timedelta(seconds=seconds)


@st.composite
def stories(draw):
    """The SMSC's facts (outcome, receipts) in any order, interleaved with the citizen's reply
    batches (in arrival order), and whether the reply window closes at the end."""
    uncertain = draw(st.booleans())
    sms = [
        (
            "outcome",
            SubmitOutcome(
                0,
                "unknown" if uncertain else "submitted",
                ("m",),
                1,
                "x",
                None if uncertain else at(1.25),
            ),
        )
    ]
    for i, verdict in enumerate(
        draw(st.lists(st.sampled_from(["delivered", "undeliverable"]), max_size=2))
    ):
        state = "DELIVRD" if verdict == "delivered" else "UNDELIV"
        offset = draw(st.sampled_from([0.0, 86_400.0]))  # a believable or an absurd done date
        sms.append(
            ("receipt", ReceiptUpdate(0, "m", state, verdict, at(2 + i + offset), at(3 + i)))
        )
    texts = draw(st.lists(st.sampled_from(TEXTS), max_size=3))
    batches: list[list[tuple[int, str]]] = []
    for index, text in enumerate(texts):
        if batches and draw(st.booleans()):
            batches[-1].append((index, text))  # two replies in one batch
        else:
            batches.append([(index, text)])
    citizen = [("replies", batch) for batch in batches]
    order = draw(st.permutations(sms))
    slots = sorted(
        draw(st.lists(st.integers(0, len(order)), min_size=len(citizen), max_size=len(citizen)))
    )
    merged = []
    for i, op in enumerate(order):
        merged.extend(citizen[j] for j, slot in enumerate(slots) if slot == i)
        merged.append(op)
    merged.extend(citizen[j] for j, slot in enumerate(slots) if slot == len(order))
    return merged, draw(st.booleans())


def _survey_row(db, survey_id):
    return db.run_sync(lambda s: s.get(m.Survey, survey_id))


def _play(db, ops, close_window):
    number = next(_numbers)
    phone = f"139{number:08d}"
    event = validate_event(event_data(event_id=f"H-{number}", citizen_phone=phone), now=NOW)
    db.run_sync(store_event, event, source="file", settings=SETTINGS, now=NOW)
    [item] = [i for i in db.run_sync(ss.claim_due, NOW, 1000, SETTINGS) if i.destination == phone]
    pure = lc.SurveyRecord(item.survey_id, phone, 0)
    inbound_ids = {}
    for kind, value in ops:
        if kind == "outcome":
            outcome = SubmitOutcome(item.outbound_id, *list(asdict(value).values())[1:])
            db.run_sync(ss.record_outcomes, [outcome], at(5), SETTINGS)
            pure = lc.advance(pure, outcome_event(outcome, at(5)), SETTINGS).record
        elif kind == "receipt":
            update = ReceiptUpdate(item.outbound_id, *list(asdict(value).values())[1:])
            db.run_sync(ss.apply_receipts, [update], at(5), SETTINGS)
            pure = lc.advance(pure, receipt_event(update, at(5)), SETTINGS).record
        else:
            batch = []
            for index, text in value:
                received = at(100 + index)

                def insert(s, text=text, received=received):
                    row = m.InboundMessage(
                        source_addr="86" + phone,
                        destination_addr="10690000",
                        data_coding=8,
                        raw_hex="",
                        text=text,
                        received_at=received,
                    )
                    s.add(row)
                    s.flush()
                    return row.id

                inbound_ids[index] = db.run_sync(insert)
                inbound = InboundSms(
                    inbound_ids[index], "86" + phone, "10690000", text, False, received
                )
                batch.append((inbound, classify(text)))
                step = lc.advance(
                    pure, lc.ReplyRead(inbound.inbound_id, received, classify(text)), SETTINGS
                )
                pure = step.record
            db.run_sync(ss.apply_replies, batch, SETTINGS, at(200))
    if close_window:
        closing = at(4 * 86_400)
        db.run_sync(ss.expire_surveys, closing, SETTINGS)
        pure = lc.advance(pure, lc.WindowClosed(closing), SETTINGS).record
    return _survey_row(db, item.survey_id), pure


def test_any_commit_order_ends_in_the_lifecycles_record(db):
    """Each interleaving, committed transaction by transaction, leaves the survey row equal to
    the pure lifecycle's record for the same events."""

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(stories())
    def check(story):
        ops, close_window = story
        row, pure = _play(db, ops, close_window)
        assert {f: getattr(row, f) for f in FIELDS} == {f: getattr(pure, f) for f in FIELDS}

    check()
