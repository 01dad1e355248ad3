"""One SMS's outcome from the final facts on each of its parts."""

from __future__ import annotations

from gateway.smpp.api import SubmitOutcome
from gateway.smpp.store import PartResult


def message_outcome(
    outbound_id: int, parts: int, done: dict[int, PartResult], failed_error: str | None
) -> SubmitOutcome:
    """``failed`` if a part failed (the first reason), else ``unknown`` if a part's fate is
    not known or a part has no final fact, else ``submitted`` with the SMSC's message ids in
    part order and when the last part was answered."""
    statuses = [r.status for r in done.values()]
    if failed_error is not None or "failed" in statuses:
        status = "failed"
        error = failed_error or next(r.error for r in done.values() if r.status == "failed")
    elif "unknown" in statuses or len(done) < parts:
        status, error = "unknown", "no response from the SMSC"
    else:
        status, error = "submitted", None
    ids = tuple(done[n].message_id or "" for n in sorted(done) if done[n].status == "submitted")
    answered = [r.responded_at for r in done.values() if r.responded_at is not None]
    return SubmitOutcome(
        outbound_id,
        status,
        ids,
        parts,
        error,
        max(answered) if answered and status == "submitted" else None,
    )
