"""Which claimed outbox SMS go to the SMSC now: the outbox's rules, over plain rows.

An SMS to a number that opted out meanwhile is not sent (only the opt-out confirmation itself
still goes), and its survey is opted out at once; a survey SMS outside sending hours waits for
the next window. What a crash left ``submitting`` is settled by the process that claimed it,
at its next start: an SMS whose first submit_sm was never written to the SMSC link (no wire
mark) is queued again; one that may have gone out is marked unknown with a reason, never
resent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from gateway.smpp.api import SubmitOutcome
from gateway.surveys.schedule import in_window
from gateway.surveys.settings import SurveySettings

INTERRUPTED = ("unknown", "interrupted: the gateway stopped after writing its submit_sm")
OPTED_OUT_ERROR = "opted_out"


@dataclass(frozen=True)
class OutboxItem:
    """One claimed outbound SMS, ready for ``submit``."""

    outbound_id: int
    destination: str
    text: str
    source_addr: str | None
    kind: str
    survey_id: int | None
    wired: bool = False  # the claim committed its wire mark (``claim_due``'s ``mark``)


def with_marks(send: list[OutboxItem], mark: int) -> list[OutboxItem]:
    """The first ``mark`` SMS to send, wire-marked by their claim (in the order submitted)."""
    return [replace(item, wired=True) for item in send[:mark]] + send[mark:]


@dataclass(frozen=True)
class Recovered:
    """What start-up recovery did with the SMS a crash left ``submitting``."""

    requeued: int = 0  # never written to the SMSC link: queued again
    unknown: int = 0  # may have reached the SMSC: unknown, with INTERRUPTED's reason


@dataclass
class Claim:
    """What to do with the rows a claim read."""

    send: list[OutboxItem] = field(default_factory=list)
    opted_out: list[int] = field(default_factory=list)  # SMS not sent: the number opted out
    opted_out_surveys: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)  # survey SMS outside sending hours


def sort_claimed(
    rows: list[OutboxItem], opted: set[str], now: datetime, settings: SurveySettings
) -> Claim:
    claim = Claim()
    for row in rows:
        if row.kind != "opt_out_confirm" and row.destination in opted:
            claim.opted_out.append(row.outbound_id)
            if row.survey_id is not None and row.kind == "survey":
                claim.opted_out_surveys.append(row.survey_id)
        elif row.kind == "survey" and not in_window(now, settings):
            claim.waiting.append(row.outbound_id)
        else:
            claim.send.append(row)
    return claim


def recovered_outcome(
    outbound_id: int,
    status: str,
    parts: int | None,
    error: str | None,
    answered_at: datetime | None,
) -> SubmitOutcome:
    """The submit outcome an SMS's stored status stands for, to settle a survey whose own
    update a crash kept from committing."""
    if status in ("failed", "unknown"):
        return SubmitOutcome(outbound_id, status, (), parts or 0, error, None)
    return SubmitOutcome(outbound_id, "submitted", (), parts or 0, None, answered_at)
