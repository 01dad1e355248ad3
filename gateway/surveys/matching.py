"""Which survey a reply answers.

Chinese carriers route a reply to the exact number the SMS came from, so a survey sent from its
own sub-number (prefix + N digits) is matched by that number. Otherwise the reply answers the
most recent survey to that phone still inside its reply window. No match: the caller keeps the
reply as ``unmatched`` for review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.surveys.settings import SurveySettings


@dataclass(frozen=True)
class ReplyCandidate:
    """A survey to this phone still inside its reply window."""

    survey_id: int
    reply_address: str | None
    sent_at: datetime | None


def is_sub_number(address: str, settings: SurveySettings) -> bool:
    prefix = settings.sub_number_prefix
    return bool(prefix) and (
        address.startswith(prefix)
        and len(address) == len(prefix) + settings.sub_number_digits
        and address[len(prefix) :].isdigit()
    )


def choose_survey(
    candidates: list[ReplyCandidate], destination_addr: str, settings: SurveySettings
) -> int | None:
    """The survey a reply to ``destination_addr`` answers, or None (unmatched)."""
    if not candidates:
        return None
    if is_sub_number(destination_addr, settings):
        by_address = [c for c in candidates if c.reply_address == destination_addr]
        if not by_address:
            return None
        candidates = by_address
    latest = max(candidates, key=lambda c: (c.sent_at is not None, c.sent_at, c.survey_id))
    return latest.survey_id
