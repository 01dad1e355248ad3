"""The one decision per service event: surveyed, or not and why (择选当事人).

Pure: the storage layer gathers the few facts about the phone's history (``PhoneHistory``) and
this module decides. Reasons are checked in a fixed order so that the recorded reason is the
strongest one: a sensitive case is reported as sensitive even if the number is also opted out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.events.schema import ServiceEvent
from gateway.surveys.schedule import next_send_time
from gateway.surveys.settings import SurveySettings

SELECTED = "selected"


@dataclass(frozen=True)
class PhoneHistory:
    """What storage knows about this citizen's number that bears on the decision."""

    opted_out: bool = False
    last_surveyed_at: datetime | None = None  # the latest survey SMS to this phone (sent or due)
    duplicate_of: str | None = None  # event_id of an earlier report of the same contact


@dataclass(frozen=True)
class Decision:
    decision: str
    scheduled_at: datetime | None = None  # UTC, only for ``selected``

    @property
    def selected(self) -> bool:
        return self.decision == SELECTED


def sample_point(event_id: str) -> float:
    """A stable point in [0, 1) for an event: the same event is sampled the same way on replay."""
    digest = hashlib.sha256(event_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def decide(
    event: ServiceEvent, history: PhoneHistory, settings: SurveySettings, now: datetime
) -> Decision:
    """Choose whether and when to survey ``event``; ``now`` is aware UTC."""
    if history.duplicate_of is not None:
        return Decision("duplicate")
    if event.tags & settings.sensitive:
        return Decision("sensitive_category")
    if now - event.ended_at > timedelta(days=settings.too_old_days):
        return Decision("too_old")
    if not event.phone.sms_able:
        return Decision("not_mobile")
    if history.opted_out:
        return Decision("opted_out")
    if history.last_surveyed_at is not None and now - history.last_surveyed_at < timedelta(
        days=settings.recently_surveyed_days
    ):
        return Decision("recently_surveyed")
    if sample_point(event.event_id) >= settings.sampling_rate(event.category):
        return Decision("sampled_out")
    earliest = max(event.ended_at + settings.delay, now)
    return Decision(SELECTED, next_send_time(earliest, settings))
