"""The send rate cap: a token bucket that counts PDUs, on an injected clock."""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per PDU."""

    def __init__(self, rate: float, clock: IReactorTime, burst: float | None = None) -> None:
        self.rate = rate
        # at least 2, so the fraction of a token accrued while a timer was late is kept
        # (a burst of 1 would lose it and the rate would sag below the cap)
        self.burst = burst if burst is not None else max(2.0, rate / 50.0)
        self._clock = clock
        self._tokens = min(1.0, self.burst)  # no burst at start-up
        self._at = clock.seconds()

    def _refill(self) -> None:
        now = self._clock.seconds()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0 - 1e-6:  # float dust must not schedule a zero-length wait
            self._tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token."""
        self._refill()
        return max(1e-4, (1.0 - self._tokens) / self.rate)
