"""Opening a case: who handles it and by when, decided from plain data.

The store gathers a :class:`CaseOpening` (from a survey rated unsatisfied, an IVR rating, or a
complaint recorded by hand), the unit tree and the settings; :func:`plan` answers the new
record and its first timeline line.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from gateway.cases import lifecycle as lc
from gateway.cases.assignment import Units, handling_unit
from gateway.cases.calendar import WorkCalendar
from gateway.cases.settings import CaseSettings

ORIGINS = ("sms_unsatisfied", "ivr_unsatisfied", "complaint", "follow_up")


@dataclass(frozen=True)
class CaseOpening:
    event_unit_code: str
    origin: str
    at: datetime
    actor: str = "system"
    survey_id: int | None = None
    event_id: int | None = None
    phone: str | None = None
    officers: tuple[str, ...] = ()  # the event's officers: the first guess at who is responsible
    complaint: str | None = None
    consent: bool | None = None
    reason_key: str | None = None


def deadlines(settings: CaseSettings, calendar: WorkCalendar | None = None) -> lc.Deadlines:
    cal = calendar or settings.calendar()
    zone = settings.zone

    # A reply batch opens its cases at one instant: one walk of the calendar for all of them.
    @functools.lru_cache(maxsize=64)
    def due_after(at: datetime, days: int) -> datetime:
        return cal.due(at, days, zone)

    return lc.Deadlines(
        due_after,
        settings.verify_days,
        settings.rectify_days,
        settings.review_days,
    )


def plan(opening: CaseOpening, units: Units, settings: CaseSettings, d: lc.Deadlines) -> lc.Step:
    """The new case (id 0 until stored) and its ``open`` line."""
    if opening.origin not in ORIGINS:
        raise ValueError(f"origin {opening.origin!r} is not one of {ORIGINS}")
    unit = handling_unit(opening.event_unit_code, units, settings.assign_level, settings.assign_map)
    return lc.opened(
        0,
        unit_code=unit,
        event_unit_code=opening.event_unit_code,
        at=opening.at,
        deadlines=d,
        actor=opening.actor,
        origin=opening.origin,
        officers=opening.officers,
        phone=opening.phone,
        consent=opening.consent,
    )
