"""One SMS's outcome from its parts' final facts (gateway.smpp.outcome)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.smpp.api import SubmitOutcome
from gateway.smpp.outcome import message_outcome
from gateway.smpp.store import PartResult

AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def part(number: int, status: str, mid: str | None = "a1", answered: int | None = 0) -> PartResult:
    responded = AT + timedelta(seconds=answered) if answered is not None else None
    error = None if status == "submitted" else f"{status} reason {number}"
    return PartResult(7, number, 2, 1, number, mid, mid, status, 0, error, AT, responded)


def test_one_submitted_part_gives_its_message_id_and_answer_time():
    assert message_outcome(7, 1, {1: part(1, "submitted", "abc", 3)}, None) == SubmitOutcome(
        7, "submitted", ("abc",), 1, None, AT + timedelta(seconds=3)
    )


def test_one_part_without_a_message_id_still_counts_as_submitted():
    outcome = message_outcome(7, 1, {1: part(1, "submitted", None, None)}, None)
    assert outcome == SubmitOutcome(7, "submitted", ("",), 1, None, None)


@pytest.mark.parametrize(
    ("done", "failed_error", "status", "error"),
    [
        ({1: part(1, "failed")}, None, "failed", "failed reason 1"),
        ({1: part(1, "unknown")}, None, "unknown", "no response from the SMSC"),
        ({1: part(1, "submitted")}, "not sent: too long", "failed", "not sent: too long"),
    ],
)
def test_one_part_that_did_not_go_through(done, failed_error, status, error):
    outcome = message_outcome(7, 1, done, failed_error)
    assert (outcome.status, outcome.error, outcome.answered_at) == (status, error, None)


def test_several_parts_give_ids_in_part_order_and_the_last_answer():
    done = {2: part(2, "submitted", "b", 5), 1: part(1, "submitted", "a", 2)}
    assert message_outcome(7, 2, done, None) == SubmitOutcome(
        7, "submitted", ("a", "b"), 2, None, AT + timedelta(seconds=5)
    )


def test_a_part_missing_leaves_the_message_unknown():
    outcome = message_outcome(7, 2, {1: part(1, "submitted")}, None)
    assert (outcome.status, outcome.message_ids) == ("unknown", ("a1",))
