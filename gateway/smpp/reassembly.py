"""Multi-part replies put back together by (sender, reference, total), with an expiry.

A citizen's long reply arrives as several ``deliver_sm``; a carrier may lose one. After
``timeout`` seconds the parts that did arrive are delivered anyway, flagged incomplete, so a
reply is never stuck in memory (and, with the parts persisted, never lost on restart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from twisted.internet.interfaces import IDelayedCall, IReactorTime


@dataclass(frozen=True)
class InboundPart:
    source_addr: str
    destination_addr: str
    reference: int
    total: int
    number: int
    data: bytes  # user data without the UDH
    data_coding: int
    esm_class: int
    raw: bytes  # the whole deliver_sm PDU
    received_at: datetime
    stored_id: int | None = None  # the row that holds this part until it is assembled


Key = tuple[str, int, int]


def concat_problem(total: int, number: int) -> str | None:
    """Why a concatenation header (UDH or sar TLVs) cannot place its part, or None. Such a
    reply is kept as a message of its own rather than parked in a group that never fills
    (or fills with the wrong parts)."""
    if total < 1:
        return f"total of {total} parts"
    if not 1 <= number <= total:
        return f"part {number} of {total}"
    return None


class Reassembler:
    """Collect parts; :meth:`add` returns the ordered parts once all are in."""

    def __init__(
        self,
        clock: IReactorTime,
        timeout: float,
        on_expired: Callable[[list[InboundPart]], object],
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._on_expired = on_expired
        self._groups: dict[Key, dict[int, InboundPart]] = {}
        self._timers: dict[Key, IDelayedCall] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, part: InboundPart, age: float = 0.0) -> list[InboundPart] | None:
        """Add one part; ``age`` (seconds already waited, when restoring after a restart)
        shortens its group's expiry. A duplicate part number is ignored."""
        key = (part.source_addr, part.reference, part.total)
        group = self._groups.setdefault(key, {})
        group.setdefault(part.number, part)
        if len(group) >= part.total:
            return self._finish(key)
        if key not in self._timers:
            delay = max(0.0, self._timeout - age)
            self._timers[key] = self._clock.callLater(delay, self._expire, key)
        return None

    def discard(self, key: Key) -> None:
        """Forget a group assembled elsewhere (by the store, from every process's parts)."""
        self._finish(key)

    def _finish(self, key: Key) -> list[InboundPart]:
        timer = self._timers.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()
        group = self._groups.pop(key, {})
        return [group[n] for n in sorted(group)]

    def _expire(self, key: Key) -> None:
        self._timers.pop(key, None)
        group = self._groups.pop(key, {})
        if group:
            self._on_expired([group[n] for n in sorted(group)])

    def stop(self) -> None:
        """Cancel the timers (the parts stay persisted and are restored on the next start)."""
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        self._groups.clear()
