"""Storing what the IVR collected on one answered attempt, and its recording.

Called by the AGI script at the end of a call (directly) and by the daemon when it ingests the
spool (``ivr.spool.ingest_spool``). Idempotent: a result for an attempt that already has one is
a duplicate (a spool file re-read after a crash between commit and delete) and changes nothing.
Settling the callback task from the attempt is the scheduler's job
(``storage.callback_store.settle_results`` / ``record_call_ended``), not this module's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ivr.flow import CallResult, UnknownAttemptError
from storage.db import make_engine, make_session_factory, transaction
from storage.models import AuditEntry, CallAttempt, Recording

__all__ = ["UnknownAttemptError", "database_writer", "session_writer", "write_result"]


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def write_result(session: Session, result: CallResult, now: datetime | None = None) -> bool:
    """Store ``result`` on its attempt; return False if the attempt already had a result."""
    if result.attempt_id is not None:
        attempt = session.get(CallAttempt, result.attempt_id)
        if attempt is None:
            raise UnknownAttemptError(f"call attempt {result.attempt_id} does not exist")
    elif result.channel_id:
        # The channel variables were lost; the ChannelId we originated with is the Uniqueid.
        attempt = session.scalars(
            sa.select(CallAttempt).where(CallAttempt.channel_id == result.channel_id)
        ).one_or_none()
        if attempt is None:
            raise UnknownAttemptError(
                f"no attempt id and no call attempt with channel id {result.channel_id!r}"
            )
    else:
        raise UnknownAttemptError("the result names neither an attempt nor a channel id")
    if result.callback_id is not None and attempt.callback_id != result.callback_id:
        raise UnknownAttemptError(
            f"call attempt {result.attempt_id} belongs to callback {attempt.callback_id}, "
            f"not {result.callback_id}"
        )
    if attempt.ended_how is not None:
        return False
    at = _parse_time(result.ended_at) or now or datetime.now(UTC)
    attempt.confirmed = result.confirmed
    attempt.rating = result.rating
    attempt.reason_key = result.reason_key
    attempt.consent = result.consent
    attempt.ended_how = result.ended_how
    attempt.result_at = at
    rec = result.recording
    if rec is not None and attempt.recording is None:
        session.add(
            Recording(
                call_attempt_id=attempt.id,
                path=rec.path,
                duration_seconds=rec.seconds,
                size_bytes=rec.bytes,
                sha256=rec.sha256,
                partial=rec.partial,
            )
        )
    session.add(
        AuditEntry(
            actor="ivr",
            action="ivr_result",
            object_type="call_attempt",
            object_id=str(attempt.id),
            detail={
                "ended_how": result.ended_how,
                "steps": result.steps,
                "wrong_keys": result.wrong_keys,
                "missed_keys": result.missed_keys,
                "error": result.error,
                "channel_id": result.channel_id,
                "started_at": result.started_at,
                "ended_at": result.ended_at,
            },
        )
    )
    session.flush()
    return True


def session_writer(session_factory: Any) -> Callable[[CallResult], bool]:
    """``ivr.flow.ResultWriter``: each result in its own transaction of ``session_factory``."""

    def write(result: CallResult) -> bool:
        with transaction(session_factory) as session:
            return write_result(session, result)

    return write


def database_writer(url: str) -> Callable[[CallResult], bool]:
    """``ivr.flow.ResultWriter`` for the short-lived AGI process: a connection of its own,
    closed after the one write (a database that does not answer fails within 5 s)."""

    def write(result: CallResult) -> bool:
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            kwargs["connect_args"] = {"connect_timeout": 5}
        engine = make_engine(url, **kwargs)
        try:
            return session_writer(make_session_factory(engine))(result)
        finally:
            engine.dispose()

    return write
