"""Sending hours: an evaluation SMS goes out only inside the daily window, in local time.

Outside the window a survey waits for the next opening; it is never dropped. Computed with
zoneinfo on the configured zone and returned as UTC, which is how it is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.surveys.settings import SurveySettings


def in_window(moment: datetime, settings: SurveySettings) -> bool:
    local = moment.astimezone(settings.zone).time()
    return settings.window_start <= local < settings.window_end


def next_send_time(earliest: datetime, settings: SurveySettings) -> datetime:
    """The first moment at or after ``earliest`` (aware) inside the sending window, in UTC."""
    local = earliest.astimezone(settings.zone)
    if local.time() < settings.window_start:
        opening = datetime.combine(local.date(), settings.window_start, settings.zone)
    elif local.time() >= settings.window_end:
        tomorrow = local.date() + timedelta(days=1)
        opening = datetime.combine(tomorrow, settings.window_start, settings.zone)
    else:
        return earliest.astimezone(UTC)
    return opening.astimezone(UTC)
