"""A link to a peer (the SMSC, Asterisk's AMI, RabbitMQ) as its log tells an operator about it.

``ClientService`` retries with a backoff and says so at every attempt, naming neither the peer
nor why; an operator needs the opposite: one warning when the link goes down or cannot be
established (which peer, which address, why), silence while the retries fail for the same
reason, and one line when it comes back (after how long, how many attempts). :class:`LinkState`
is that, for one link; each service reports to it what it sees (connected and ready, an attempt
failed, the link dropped) and it decides what to log. The address never carries a secret.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.masking import redact_secrets

_NEW, _UP, _DOWN = "new", "up", "down"


def endpoint_address(description: str) -> str:
    """``host:port`` of a Twisted endpoint string (``tcp:host=h:port=p``, ``tcp:h:p``,
    ``tls:...``), or the description with its secrets redacted when it has no such parts."""
    text = description.strip()
    kind, _, rest = text.partition(":")
    if kind in ("tcp", "tls", "ssl", "tcp6"):
        params = rest.split(":")
        named = dict(p.split("=", 1) for p in params if "=" in p)
        positional = [p for p in params if "=" not in p]
        host = named.get("host") or (positional[0] if positional else "")
        port = named.get("port") or (positional[1] if len(positional) > 1 else "")
        if host:
            return f"{host}:{port}" if port else host
    return redact_secrets(text)


def failure_reason(failure: Failure | BaseException | str) -> str:
    """One line saying why, without Twisted's class-name decorations or trailing dots."""
    if isinstance(failure, str):
        text = failure
    else:
        value = failure.value if isinstance(failure, Failure) else failure
        text = str(value) or type(value).__name__
    text = re.sub(r"\s+", " ", text).strip().rstrip(".")
    return redact_secrets(text)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class LinkState:
    """One link's state: ``new`` (never up), ``up`` or ``down``; logs each change once."""

    def __init__(
        self,
        link: str,
        peer: str,
        address: str,
        clock: IReactorTime,
        log: Logger | None = None,
    ) -> None:
        self.link = link  # e.g. "smpp-tx": which of our links
        self.peer = peer  # e.g. "the SMSC"
        self.address = redact_secrets(address)
        self._clock = clock
        self._log = log or Logger(namespace=f"gateway.linkstate.{link}")
        self.state = _NEW
        self.reason: str | None = None
        self.failed_attempts = 0
        self._down_since: float | None = None

    @property
    def is_up(self) -> bool:
        return self.state == _UP

    def up(self) -> None:
        """The link is established and ready (bound, logged in, channel open)."""
        if self.state == _UP:
            return
        if self.state == _DOWN:
            since = self._down_since if self._down_since is not None else self._clock.seconds()
            down_for = self._clock.seconds() - since
            self._log.warn(
                "{link}: {peer} at {address} is back after {down_for} "
                "({attempts} failed attempts; last: {reason})",
                link=self.link,
                peer=self.peer,
                address=self.address,
                down_for=_duration(down_for),
                attempts=self.failed_attempts,
                reason=self.reason,
            )
        else:
            self._log.info(
                "{link}: connected to {peer} at {address}",
                link=self.link,
                peer=self.peer,
                address=self.address,
            )
        self.state, self.reason, self.failed_attempts, self._down_since = _UP, None, 0, None

    def failed(self, reason: Failure | BaseException | str) -> None:
        """An attempt to establish the link failed (refused, timed out, login refused)."""
        why = failure_reason(reason)
        self.failed_attempts += 1
        if self.state == _DOWN and why == self.reason:
            return  # the same failure again: the retries are not news
        if self.state == _DOWN:
            self._log.warn(
                "{link}: {peer} at {address} still unreachable, now because: {reason}; "
                "retrying with backoff",
                link=self.link,
                peer=self.peer,
                address=self.address,
                reason=why,
            )
        else:
            self._log.warn(
                "{link}: cannot reach {peer} at {address}: {reason}; retrying with backoff "
                "(logged again when this changes)",
                link=self.link,
                peer=self.peer,
                address=self.address,
                reason=why,
            )
            self._down_since = self._clock.seconds()
        self.state, self.reason = _DOWN, why

    def lost(self, reason: Failure | BaseException | str) -> None:
        """An established link dropped."""
        if self.state != _UP:
            return
        why = failure_reason(reason)
        self._log.warn(
            "{link}: lost the link to {peer} at {address}: {reason}; reconnecting with backoff",
            link=self.link,
            peer=self.peer,
            address=self.address,
            reason=why,
        )
        self.state, self.reason, self._down_since = _DOWN, why, self._clock.seconds()


class ObservedEndpoint:
    """An endpoint that tells ``link`` when a connection attempt fails, and why."""

    def __init__(self, endpoint: Any, link: LinkState) -> None:
        self._endpoint = endpoint
        self._link = link

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        d = self._endpoint.connect(factory)

        def failed(failure: Failure) -> Failure:
            self._link.failed(failure)
            return failure

        return d.addErrback(failed)
