"""An ``event_id`` seen again: the same event resent, or a different event under a used id.

The first event stays as it was stored either way (``event_id`` is the idempotency key). A resend
with the same content is a plain ``duplicate``; one whose content differs is still a
``duplicate``, but its result names the fields that differ, so the sender learns that its second
event was not stored (the AMQP door dead-letters it, the file import writes it to the rejected
lines, the HTTP door says it in the item's result).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from gateway.events.results import DUPLICATE, IngestResult
from gateway.events.schema import ServiceEvent


@dataclass(frozen=True)
class EventContent:
    """What a sender said about an event, as compared between two events with one id."""

    category: str
    business: str | None
    unit_code: str
    officer_ids: frozenset[str]
    citizen_phone: str | None
    occurred_at: datetime
    closed_at: datetime | None
    tags: frozenset[str]
    citizen_name: str | None

    @classmethod
    def of(cls, event: ServiceEvent) -> EventContent:
        return cls(
            category=event.category,
            business=event.business,
            unit_code=event.unit_code,
            officer_ids=frozenset(event.officer_ids),
            citizen_phone=event.citizen_phone_raw,
            occurred_at=event.occurred_at,
            closed_at=event.closed_at,
            tags=frozenset(event.tags),
            citizen_name=event.citizen_name,
        )


def differing_fields(first: EventContent, again: EventContent) -> list[str]:
    """The fields (as the format names them) whose values differ, in the format's order."""
    return [
        f.name for f in fields(EventContent) if getattr(first, f.name) != getattr(again, f.name)
    ]


def duplicate(event: ServiceEvent, first: EventContent | None) -> IngestResult:
    """The result for ``event`` whose id is already taken by ``first`` (``None``: not known)."""
    differs = differing_fields(first, EventContent.of(event)) if first is not None else []
    if not differs:
        return IngestResult(event.event_id, DUPLICATE)
    return IngestResult(
        event.event_id,
        DUPLICATE,
        reason=(
            f"event_id {event.event_id!r} is already used by an event with different "
            f"{', '.join(differs)}; the first event is kept and this one was not stored"
        ),
        differs=tuple(differs),
    )
