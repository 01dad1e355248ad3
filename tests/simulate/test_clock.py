"""ScaledClock: simulated delays run `speed` times faster than the underlying clock."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from gateway.simulate.clock import ScaledClock


def test_call_later_fires_after_delay_divided_by_speed():
    """At speed 60 a 60-second simulated delay fires after one underlying second."""
    base = Clock()
    clock = ScaledClock(base, speed=60)
    fired = []
    clock.callLater(60, fired.append, "x")
    base.advance(0.99)
    assert fired == []
    base.advance(0.01)
    assert fired == ["x"]


def test_seconds_advance_speed_times_as_fast():
    """One underlying second is `speed` simulated seconds, counted from the clock's creation."""
    base = Clock()
    base.advance(1000)
    clock = ScaledClock(base, speed=10)
    base.advance(2)
    assert clock.seconds() == pytest.approx(1020)


def test_speed_must_be_positive():
    """A zero or negative speed is refused with the value named."""
    with pytest.raises(ValueError, match="-1"):
        ScaledClock(Clock(), speed=-1)


def test_clock_can_start_at_a_chosen_simulated_time() -> None:
    """The demo's day starts at 06:00 on a chosen date, whatever the wall clock says."""
    base = Clock()
    base.advance(1000)
    clock = ScaledClock(base, speed=3600, start=86_400.0)
    assert clock.seconds() == 86_400.0
    base.advance(1)
    assert clock.seconds() == 86_400.0 + 3600


def test_pending_calls_cancel_all_leaves_nothing_scheduled() -> None:
    """A stopped simulator leaves no receipt or reply behind in the reactor."""
    from gateway.simulate.clock import PendingCalls

    base = Clock()
    fired: list[int] = []
    pending = PendingCalls(base)
    pending.later(5, fired.append, 1)
    pending.later(10, fired.append, 2)
    base.advance(5)
    assert (fired, len(pending)) == ([1], 1)
    pending.cancel_all()
    base.advance(10)
    assert (fired, len(pending), base.getDelayedCalls()) == ([1], 0, [])
