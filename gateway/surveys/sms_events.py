"""The SMPP service's facts (:mod:`gateway.smpp.api`) as survey lifecycle events."""

from __future__ import annotations

from datetime import datetime

from gateway.smpp.api import ReceiptUpdate, SubmitOutcome
from gateway.surveys import lifecycle as lc


def outcome_event(outcome: SubmitOutcome, now: datetime) -> lc.Event:
    """``now`` stands in for the read time of an answer that did not record one."""
    if outcome.status == "failed":
        return lc.Refused(outcome.error or "submit failed")
    return lc.Accepted(
        outcome.answered_at or now,
        uncertain=outcome.status == "unknown",
        error=outcome.error,
    )


def receipt_event(update: ReceiptUpdate, now: datetime) -> lc.Receipt | None:
    """None for a receipt that settles nothing yet (not final, or another part pending)."""
    if update.final_status == "delivered":
        return lc.Receipt("delivered", update.state, update.done_at, update.received_at or now)
    if update.final_status == "undeliverable":
        return lc.Receipt("undeliverable", update.state, update.done_at, update.received_at or now)
    return None
