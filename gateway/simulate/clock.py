"""Simulated time for the simulators: real reactor timers, run ``speed`` times faster.

A citizen who answers after twenty minutes or a phone that rings for thirty seconds would make a
demo last hours. :class:`ScaledClock` is an ``IReactorTime`` whose ``seconds()`` advance
``speed`` times as fast as the reactor's and whose ``callLater(d)`` fires after ``d / speed`` real
seconds, so the simulators keep stating their delays in simulated seconds. The demo prints the
factor; nothing is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer


@implementer(IReactorTime)
class ScaledClock:
    def __init__(
        self, reactor: IReactorTime, speed: float = 1.0, start: float | None = None
    ) -> None:
        """``start``: the simulated time (POSIX seconds) at this instant; default: now."""
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        self.reactor = reactor
        self.speed = speed
        self._origin = reactor.seconds()
        self._start = self._origin if start is None else start

    def seconds(self) -> float:
        now = self.reactor.seconds()
        return self._start + (now - self._origin) * self.speed

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> IDelayedCall:
        return self.reactor.callLater(max(0.0, delay) / self.speed, callable, *args, **kw)

    def getDelayedCalls(self) -> list[IDelayedCall]:
        return list(self.reactor.getDelayedCalls())


class PendingCalls:
    """A simulator's scheduled events, all of which one :meth:`cancel_all` stops.

    A simulator that is stopped must leave nothing behind in the reactor (a test would see a
    dirty reactor, a demo would see a citizen replying after the end).
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._calls: set[IDelayedCall] = set()

    def later(self, delay: float, fn: Callable[..., Any], *args: Any) -> IDelayedCall:
        holder: list[IDelayedCall] = []

        def run() -> None:
            self._calls.discard(holder[0])
            fn(*args)

        call = self.clock.callLater(max(0.0, delay), run)
        holder.append(call)
        self._calls.add(call)
        return call

    def cancel(self, call: IDelayedCall | None) -> None:
        if call is None:
            return
        if call.active():
            call.cancel()
        self._calls.discard(call)

    def cancel_all(self) -> None:
        for call in list(self._calls):
            if call.active():
                call.cancel()
        self._calls.clear()

    def __len__(self) -> int:
        return len(self._calls)
