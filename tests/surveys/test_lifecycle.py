"""The pure survey lifecycle: each rule, and the same record whatever order the events come in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.surveys import lifecycle as lc
from gateway.surveys.classifier import classify
from gateway.surveys.settings import SurveySettings

SETTINGS = SurveySettings()
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fresh(**changes) -> lc.SurveyRecord:
    return lc.SurveyRecord(id=7, phone="13812345678", unit_id=3, **changes)


def run(events, record=None):
    record = record or fresh()
    outputs = []
    for event in events:
        step = lc.advance(record, event, SETTINGS)
        record = step.record
        outputs.extend(step.outputs)
    return record, outputs


def reply(inbound_id: int, seconds: float, text: str) -> lc.ReplyRead:
    return lc.ReplyRead(inbound_id, at(seconds), classify(text))


def delivered(done: float, arrived: float) -> lc.Receipt:
    return lc.Receipt("delivered", "DELIVRD", at(done), at(arrived))


def test_accepted_sets_sent_at_to_when_the_answer_was_read():
    """sent_at is the time the submit_sm_resp was read; the reply window starts there."""
    record, outputs = run([lc.Accepted(at(1.5))])
    assert (record.status, record.sent_at) == ("sent", at(1.5))
    assert record.expires_at == at(1.5) + SETTINGS.reply_window
    assert outputs == []


def test_refused_fails_with_the_smsc_error():
    """A refused SMS fails the survey and says why."""
    record, _ = run([lc.Refused("ESME_RINVDSTADR")])
    assert (record.status, record.failure_reason) == ("failed", "ESME_RINVDSTADR")


def test_uncertain_outcome_counts_as_sent_with_the_reason():
    """No answer from the SMSC: the SMS may have gone out, so sent, saying it is uncertain."""
    record, _ = run([lc.Accepted(at(2), uncertain=True, error="no response")])
    assert record.status == "sent"
    assert record.failure_reason == "submit outcome unknown: no response"


def test_receipt_done_date_is_the_delivery_time():
    """delivered_at is the receipt's done date when it is believable."""
    record, _ = run([lc.Accepted(at(1)), delivered(done=3, arrived=4)])
    assert (record.status, record.delivered_at) == ("delivered", at(3))


def test_absurd_or_missing_done_date_falls_back_to_arrival():
    """A done date a day ahead of its arrival, or none at all, gives the arrival time."""
    ahead, _ = run([delivered(done=86_400, arrived=4)])
    missing, _ = run([lc.Receipt("delivered", "DELIVRD", None, at(5))])
    assert ahead.delivered_at == at(4)
    assert missing.delivered_at == at(5)


def test_undeliverable_receipt_keeps_its_state_as_reason():
    """An EXPIRED receipt makes the survey undeliverable, even after the window closed."""
    record, _ = run([lc.Accepted(at(1)), lc.WindowClosed(at(10)), undeliverable(20)])
    assert (record.status, record.failure_reason) == ("undeliverable", "receipt EXPIRED")


def undeliverable(seconds: float) -> lc.Receipt:
    return lc.Receipt("undeliverable", "EXPIRED", at(seconds), at(seconds))


def test_rating_thanks_the_citizen():
    """A first satisfied rating: replied, rated, thanked from the survey's reply address."""
    record, outputs = run([lc.Accepted(at(1)), reply(1, 60, "1")], fresh(reply_address="1069"))
    assert (record.status, record.rating, record.replied_at) == ("replied", "satisfied", at(60))
    [marked, thanks] = outputs
    assert marked == lc.ReplyMarked(1, "matched")
    assert (thanks.kind, thanks.destination, thanks.source_addr) == (
        "thank_you",
        "13812345678",
        "1069",
    )


def test_unsatisfied_rating_asks_for_a_callback():
    """An unsatisfied rating produces the callback task output (the supervision hook)."""
    _, outputs = run([lc.Accepted(at(1)), reply(1, 60, "3 态度差")])
    assert lc.CallbackTaskDue(7, 3, "13812345678", "unsatisfied") in outputs


def test_unsatisfied_rating_opens_a_case_once():
    """The first unsatisfied rating opens one supervision case; a repeat opens no second."""
    _, outputs = run([lc.Accepted(at(1)), reply(1, 60, "3 态度差"), reply(2, 61, "3")])
    assert [o for o in outputs if isinstance(o, lc.OpenCase)] == [lc.OpenCase(7, 3)]


def test_satisfied_rating_opens_no_case():
    _, outputs = run([lc.Accepted(at(1)), reply(1, 60, "1")])
    assert not [o for o in outputs if isinstance(o, lc.OpenCase)]


def test_repeated_identical_rating_is_a_duplicate_not_a_comment():
    """Sending 1 twice: the second is marked duplicate and the survey has no comment."""
    record, outputs = run([lc.Accepted(at(1)), reply(1, 60, "1"), reply(2, 61, "1")])
    assert record.comment is None
    assert outputs[-1] == lc.ReplyMarked(2, "duplicate")


def test_different_later_rating_is_a_comment():
    """A second, different rating does not replace the first: it is kept as a comment."""
    record, outputs = run([lc.Accepted(at(1)), reply(1, 60, "1"), reply(2, 61, "3")])
    assert (record.rating, record.comment) == ("satisfied", "3")
    assert outputs[-1] == lc.ReplyMarked(2, "comment")


def test_unreadable_reply_asks_once_for_clarification():
    """Two unreadable replies: one clarification SMS, both marked matched."""
    record, outputs = run([lc.Accepted(at(1)), reply(1, 60, "哈哈"), reply(2, 61, "嗯嗯")])
    assert record.clarification_sent
    assert [o.kind for o in outputs if isinstance(o, lc.SendSms)] == ["clarify"]


def test_opt_out_reply_keeps_every_time():
    """TD: opted_out (not failed), with sent_at, delivered_at and replied_at kept."""
    record, outputs = run([lc.Accepted(at(1)), delivered(2, 2), reply(1, 60, "TD")])
    assert record.status == "opted_out"
    assert (record.sent_at, record.delivered_at, record.replied_at) == (at(1), at(2), at(60))
    assert lc.OptOutRequested("13812345678", 1, None) in outputs


def test_opt_out_before_the_outcome_is_recorded():
    """TD read before the SMSC's answer is recorded: the answer still gives sent_at."""
    record, _ = run([reply(1, 0.5, "TD"), lc.Accepted(at(0.2)), delivered(0.4, 0.6)])
    assert (record.status, record.sent_at, record.delivered_at) == ("opted_out", at(0.2), at(0.4))


def test_no_thanks_after_an_opt_out():
    """A rating after the citizen opted out is kept, but nothing is sent or called; the
    unsatisfied rating still opens a case (the inspectorate verifies it without calling)."""
    record, outputs = run([lc.Accepted(at(1)), lc.OptedOutElsewhere(at(5)), reply(1, 60, "3")])
    assert (record.status, record.rating) == ("opted_out", "unsatisfied")
    assert [o for o in outputs if not isinstance(o, lc.ReplyMarked)] == [lc.OpenCase(7, 3)]


def test_reply_window_close_expires_an_unrated_survey():
    """Window closed without a rating: expired; with one: still replied."""
    unrated, _ = run([lc.Accepted(at(1)), lc.WindowClosed(at(99))])
    rated, _ = run([lc.Accepted(at(1)), lc.WindowClosed(at(99)), reply(1, 60, "2")])
    assert unrated.status == "expired"
    assert rated.status == "replied"


def test_withdrawn_stops_a_pending_survey_only():
    """A withdrawn event marks a pending survey; an SMS already accepted stays sent."""
    pending, _ = run([lc.Withdrawn(at(1))])
    sent, _ = run([lc.Withdrawn(at(1)), lc.Accepted(at(2))])
    assert pending.status == "withdrawn"
    assert sent.status == "sent"


# --- every order gives the same record ------------------------------------------------------

TEXTS = ("1", "1", "2", "3 民警态度不好", "TD", "哈哈", "1 谢谢")


@st.composite
def stories(draw):
    """Events of one survey: the SMSC's stream (any order) and the citizen's (in order)."""
    clock = iter(range(1, 1000))
    sms: list[lc.Event] = [lc.Queued(at(0))]
    outcome = draw(st.sampled_from(["accepted", "uncertain", "refused"]))
    if outcome == "refused":
        sms.append(lc.Refused("ESME_RSUBMITFAIL"))
    else:
        sms.append(lc.Accepted(at(next(clock)), uncertain=outcome == "uncertain", error="x"))
        for verdict in draw(st.lists(st.sampled_from(["delivered", "undeliverable"]), max_size=2)):
            done = next(clock)
            offset = draw(st.sampled_from([0, 1, -9 * 3600, 86_400]))  # zones, absurd dates
            state = "DELIVRD" if verdict == "delivered" else "UNDELIV"
            sms.append(lc.Receipt(verdict, state, at(done + offset), at(done + 1)))
        if draw(st.booleans()):
            sms.append(lc.WindowClosed(at(5000)))
    if draw(st.booleans()):
        sms.append(lc.Withdrawn(at(next(clock))))
    citizen: list[lc.Event] = []
    for i, text in enumerate(draw(st.lists(st.sampled_from(TEXTS), max_size=4))):
        citizen.append(reply(i + 1, 100 + i, text))
    if draw(st.booleans()):
        citizen.insert(draw(st.integers(0, len(citizen))), lc.OptedOutElsewhere(at(150)))
    return sms, citizen


@st.composite
def interleavings(draw):
    sms, citizen = draw(stories())
    shuffled = draw(st.permutations(sms))
    slots = sorted(
        draw(st.lists(st.integers(0, len(shuffled)), min_size=len(citizen), max_size=len(citizen)))
    )
    merged: list[lc.Event] = []
    position = 0
    for index, event in enumerate(shuffled):
        while position < len(slots) and slots[position] == index:
            merged.append(citizen[position])
            position += 1
        merged.append(event)
    merged.extend(citizen[position:])
    return sms + citizen, merged


@settings(max_examples=400, deadline=None)
@given(interleavings())
def test_every_order_gives_the_same_record(case):
    """Any permutation of the SMSC's events interleaved anyhow with the citizen's replies
    ends in the same record as the events in their natural order."""
    natural, shuffled = case
    assert run(shuffled)[0] == run(natural)[0]


@settings(max_examples=200, deadline=None)
@given(interleavings())
def test_status_never_moves_back(case):
    """Along any order, each event leaves the status at least as far along as before."""
    _, events = case
    record = fresh()
    for event in events:
        after = lc.advance(record, event, SETTINGS).record
        assert lc.RANK[after.status] >= lc.RANK[record.status]
        for name in ("sent_at", "delivered_at", "replied_at", "expires_at", "rating"):
            if getattr(record, name) is not None:
                assert getattr(after, name) is not None
        record = after


def phone_rating(call_id: int, seconds: float, key: str) -> lc.ReplyRead:
    return lc.ReplyRead(call_id, at(seconds), classify(key), via="phone")


def test_a_phone_rating_counts_says_so_and_sends_no_thank_you_sms():
    """A rating keyed on the evaluation line is the survey's rating, marked phone; the caller
    was thanked by voice, so no SMS; an unsatisfied one still asks for the callback."""
    record, outputs = run([lc.Accepted(at(1)), phone_rating(50, 60, "3")])
    assert (record.status, record.rating, record.rated_via) == ("replied", "unsatisfied", "phone")
    assert not [o for o in outputs if isinstance(o, lc.SendSms)]
    assert [type(o) for o in outputs] == [lc.ReplyMarked, lc.OpenCase, lc.CallbackTaskDue]


def test_an_sms_after_a_phone_rating_is_kept_not_counted():
    """The first rating counts whichever way it came; the SMS after it is a comment."""
    record, outputs = run([lc.Accepted(at(1)), phone_rating(50, 60, "1"), reply(9, 70, "3")])
    assert (record.rating, record.rated_via) == ("satisfied", "phone")
    assert record.comment == "3"
    assert outputs[-1] == lc.ReplyMarked(9, "comment")


def test_a_phone_rating_after_an_sms_reply_is_kept_not_counted():
    record, outputs = run([lc.Accepted(at(1)), reply(9, 30, "2"), phone_rating(50, 60, "3")])
    assert (record.rating, record.rated_via, record.comment) == ("basically_satisfied", "sms", None)
    assert outputs[-1] == lc.ReplyMarked(50, "later")
