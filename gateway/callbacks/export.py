"""The shape of ``pingjing export callbacks`` and ``GET /api/v1/callbacks``: their fields and
how their date filters read. Pure; the query itself is ``storage.callback_export``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: The fields of ``pingjing export callbacks``, in column order.
FIELDS = (
    "callback_id",
    "event_id",
    "unit_code",
    "phone",
    "status",
    "attempts",
    "reason_key",
    "reason",
    "recording_path",
    "recording_seconds",
    "consent",
    "completed_at",
)


class ExportQueryError(ValueError):
    """A filter that cannot be applied (unknown unit, unknown status, bad date)."""


def parse_bound(text: str, zone: ZoneInfo, *, end: bool, what: str) -> datetime:
    """A ``--from``/``--to`` value: a date (local midnight; for ``to`` the whole day counts) or
    an ISO 8601 datetime (local time when it has no offset)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ExportQueryError(
            f"{what}={text!r} is not a date (2026-11-01) or a datetime (2026-11-01T09:00+08:00)"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(UTC)
