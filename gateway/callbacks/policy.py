"""When a citizen may be phoned and what happens after each attempt: pure functions, no I/O.

Everything here takes aware datetimes and a :class:`CallbackSettings`, so the rules are tested
with plain values and the scheduler and the store share one definition of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from gateway.callbacks.settings import CallbackSettings
from ivr.flow import REASONS

#: Originate outcomes (``CallAttempt.outcome``) that are worth another try.
RETRYABLE_OUTCOMES = frozenset({"busy", "no_answer", "congestion", "failed", "unknown"})
#: Task statuses nothing changes any more (``manual`` may still take a late IVR result).
FINAL_STATUSES = frozenset({"completed", "wrong_person", "no_input", "opted_out"})
#: How an answered call ended (``CallAttempt.ended_how``) mapped to the task's final status.
RESULT_STATUSES = {"completed": "completed", "wrong_person": "wrong_person", "no_input": "no_input"}
#: Endings that stop the conversation midway; what was answered before them is kept.
CUT_SHORT = frozenset({"hangup", "error"})

#: Reason identifier (``ivr.flow.REASONS``' values) -> the label the IVR menu says for it.
REASON_LABELS = {
    "attitude": "服务态度",
    "efficiency": "办事效率",
    "communication": "沟通不畅",
    "operational_error": "操作错误",
    "other": "其他",
}


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{what}={at!r} is naive; pass an aware datetime")
    return at


def in_window(at: datetime, settings: CallbackSettings) -> bool:
    """Whether a call may start at ``at`` (local time of ``settings.zone``)."""
    local = _aware(at, "at").astimezone(settings.zone)
    clock = local.timetz().replace(tzinfo=None)
    return any(start <= clock < end for start, end in settings.windows_for(local.weekday()))


def next_slot(at: datetime, settings: CallbackSettings) -> datetime:
    """The earliest instant at or after ``at`` inside a calling window, in UTC.

    Settings refuse a week without windows, so a slot is always found within eight days.
    """
    local = _aware(at, "at").astimezone(settings.zone)
    for offset in range(8):
        day: date = local.date() + timedelta(days=offset)
        for start, end in settings.windows_for(day.weekday()):
            opens = datetime.combine(day, start, tzinfo=settings.zone)
            closes = datetime.combine(day, end, tzinfo=settings.zone)
            if local < closes:
                return max(local, opens).astimezone(UTC)
    raise ValueError("no calling window in the coming week; check the [callbacks] windows")


def first_attempt_due_by(created_at: datetime, settings: CallbackSettings) -> datetime:
    """The first call must start before this, counted from the reply (the task's creation)."""
    return _aware(created_at, "created_at").astimezone(UTC) + settings.first_attempt_within


def is_overdue(due_by: datetime | None, first_attempt_at: datetime | None, now: datetime) -> bool:
    """A task is overdue when its first attempt started after ``due_by``, or has not started
    and ``due_by`` has passed. A task with no deadline is never overdue."""
    if due_by is None:
        return False
    started = first_attempt_at if first_attempt_at is not None else now
    return _aware(started, "first_attempt_at") > _aware(due_by, "due_by")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a task after an attempt: its new status and, for a retry, when."""

    status: str  # pending | manual | completed | wrong_person | no_input
    next_attempt_at: datetime | None = None
    why: str = ""


def after_unanswered(
    outcome: str, attempts_made: int, now: datetime, settings: CallbackSettings
) -> Decision:
    """Retry an attempt that reached nobody, or hand the task to supervisors after the last.

    ``outcome`` is a ``CallAttempt.outcome`` (busy, no_answer, congestion, failed, unknown) or
    an IVR ending that gave nothing usable (``hangup``, ``error``); every one of them is
    retried: a wrong number looks like ``failed`` to us and supervisors sort it out manually.
    """
    if attempts_made >= settings.max_attempts:
        return Decision(
            "manual",
            None,
            f"{outcome} on attempt {attempts_made} of {settings.max_attempts}",
        )
    at = next_slot(now + settings.retry_delay(attempts_made), settings)
    return Decision("pending", at, f"{outcome} on attempt {attempts_made}; retry")


def after_answered(
    ended_how: str | None,
    reason_key: str | None,
    attempts_made: int,
    now: datetime,
    settings: CallbackSettings,
) -> Decision:
    """Close the task from what the IVR collected, or retry when it collected nothing usable.

    A call cut short (hangup, script error) after the reason key was pressed still answers the
    question the callback asks, so it completes the task; cut short before it, the call counts
    as an unanswered try.
    """
    if ended_how in RESULT_STATUSES:
        return Decision(RESULT_STATUSES[ended_how], None, f"IVR ended: {ended_how}")
    if ended_how in CUT_SHORT and reason_key:
        return Decision("completed", None, f"{ended_how} after the reason was given")
    return after_unanswered(ended_how or "no_result", attempts_made, now, settings)


def sampled_for_callback(survey_id: int, share: float) -> bool:
    """Whether a survey nobody replied to gets a non-response callback.

    Deterministic per survey id (a hash, not a random draw), so a restart or a second process
    reaches the same verdict, and the chosen share is exact in the long run.
    """
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    digest = hashlib.sha256(f"pingjing-non-response:{survey_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def reason_name(reason_key: str | None) -> str | None:
    """The reason identifier for a keypad key; an unknown key is kept visible, not dropped."""
    if reason_key is None:
        return None
    return REASONS.get(reason_key, f"unknown:{reason_key}")
