"""What a graceful stop does with the SMS still waiting in the send queue.

An SMS none of whose parts reached the wire goes back to the outbox (``SmsStore.
release_unsent``): its claim is given up, its wire mark cleared, and this process after its
restart, or another one, sends it once. Its ``submit`` Deferred fires with a
:data:`RELEASED` outcome, which callers must not write down as the SMS's fate. An SMS part of
which went out cannot be sent again whole: its waiting parts end ``unknown`` (another part
may have reached the citizen), or ``failed`` when nothing of it was accepted (only error
answers) or a part already failed for good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.smpp.api import RELEASED, SubmitOutcome

log = Logger(namespace="pingjing.smpp")

RELEASED_ERROR = "not sent: the SMPP service stopped; back in the outbox"
NOT_SENT = "not sent: the SMPP service stopped"
NOT_RESENT = "not resent: the SMPP service stopped"
PARTLY_SENT = "not sent: the SMPP service stopped after another part of it went out"


def never_written(msg: Any) -> bool:
    """No part of ``msg`` (a service ``_Message``) was ever written to the wire."""
    return not msg.in_flight and not len(msg.attempts) and all(j.attempt == 0 for j in msg.jobs)


def split_queue(queue: Iterable[Any]) -> tuple[list[Any], list[Any]]:
    """The queue at a stop: the unfinished messages none of whose parts was written (every
    part of such a message is still queued), in queue order, and the queued jobs of the
    other unfinished messages."""
    unsent: dict[int, Any] = {}
    rest = []
    for job in queue:
        msg = job.message
        if msg.finished:
            continue
        if never_written(msg):
            unsent.setdefault(id(msg), msg)
        else:
            rest.append(job)
    return list(unsent.values()), rest


def resolution(job: Any) -> tuple[str, str]:
    """(status, error) for a queued part of a message that was written in part."""
    msg = job.message
    if msg.failed_error is not None:
        return "failed", NOT_SENT
    out = msg.in_flight or any(r.status in ("submitted", "unacked") for r in msg.done.values())
    out = out or any(r.status in ("submitted", "unacked") for r in msg.attempts.records())
    return ("unknown", PARTLY_SENT) if out else ("failed", NOT_RESENT)


def release(
    store: Any,
    messages: list[Any],
    at: datetime,
    tell: Callable[[Any, SubmitOutcome], None],
) -> defer.Deferred[int]:
    """Give ``messages`` back to the outbox; then fire each one's outcome (``tell``).

    If the store fails, the claims stay this process's: its start-up recovery queues them
    again (or, when a wire mark had committed, ends them ``unknown``). A stop does not wait
    for the database to come back."""
    ids = [msg.sms.outbound_id for msg in messages]
    d = defer.maybeDeferred(store.release_unsent, ids, at)

    def released(n: int) -> int:
        log.info("SMPP stop: {n} SMS never written to the SMSC went back to the outbox", n=n or 0)
        if n != len(ids):
            log.warn(
                "SMPP stop: {m} of the SMS to release were no longer claimed for sending; "
                "left as they are",
                m=len(ids) - (n or 0),
            )
        return n or 0

    def failed(f: Failure) -> int:
        log.failure(
            "SMPP stop: {n} SMS never written to the SMSC could not be put back in the outbox; "
            "start-up recovery settles them",
            f,
            n=len(ids),
        )
        return 0

    d.addCallbacks(released, failed)

    def fire(n: int) -> int:
        for msg in messages:
            tell(
                msg,
                SubmitOutcome(msg.sms.outbound_id, RELEASED, (), len(msg.parts), RELEASED_ERROR),
            )
        return n

    return d.addCallback(fire)
