"""Callbacks made by hand (100 % 回访): the tasks the IVR could not complete, and what a call
made by a person does to them. Pure; ``storage/manual_calls.py`` reads and writes.

A task is on the manual list when the IVR gave up (``manual``: no answer after the retries,
busy, a wrong number) or reached nobody useful (``wrong_person``, ``no_input``). A person's
call that reaches the citizen completes the task: it stays ``manual`` with ``completed_at``
set, which is what the reports count as reached by hand (``gateway/reports/store.py``), and
the callback rate counts it with the IVR's. One that does not is recorded, and once the first
of them is ``unreachable_after_days`` old the task is marked ``unreachable``, with every
attempt listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MANUAL_STATUSES = ("manual", "wrong_person", "no_input")
REASON_KEYS = ("1", "2", "3", "4", "5", "9")
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


@dataclass(frozen=True)
class ManualCallRecord:
    reached: bool
    reason_key: str | None = None
    rating: str | None = None
    consent: bool | None = None
    notes: str | None = None


class ManualCallError(ValueError):
    """The call cannot be recorded as given; the message says why."""


def check_call(call: ManualCallRecord) -> None:
    if call.reason_key is not None and call.reason_key not in REASON_KEYS:
        raise ManualCallError(f"reason key {call.reason_key!r} is not one of {REASON_KEYS}")
    if call.rating is not None and call.rating not in RATINGS:
        raise ManualCallError(f"rating {call.rating!r} is not one of {RATINGS}")
    if not call.reached and (call.rating or call.consent is not None or call.reason_key):
        raise ManualCallError("a call that did not reach the citizen has no answers to record")


def status_after(
    status: str,
    call: ManualCallRecord,
    first_manual_call: datetime | None,
    now: datetime,
    unreachable_after_days: int,
    *,
    reached_before: bool = False,
) -> str:
    """The task's status after ``call`` (``first_manual_call``: the earliest recorded before;
    ``reached_before``: a person already reached the citizen)."""
    if reached_before:
        raise ManualCallError("the citizen was already reached by hand: the callback is done")
    if status not in MANUAL_STATUSES and status != "unreachable":
        raise ManualCallError(f"the task is {status}: it is not on the manual list")
    if call.reached:
        return "manual"  # with completed_at: reached by hand
    first = first_manual_call or now
    if now - first >= timedelta(days=unreachable_after_days):
        return "unreachable"
    return status


def is_unreachable_now(
    status: str, first_manual_call: datetime | None, now: datetime, days: int
) -> bool:
    """For the sweep: a listed task whose first unanswered manual call is old enough."""
    return (
        status in MANUAL_STATUSES
        and first_manual_call is not None
        and now - first_manual_call >= timedelta(days=days)
    )
