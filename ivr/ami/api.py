"""The contract between the callback scheduler and the AMI client.

The scheduler (``gateway/callbacks.py``) only ever sees these three types: it builds an
:class:`OriginateRequest`, receives a :class:`CallOutcome`, and wires an :class:`AmiSettings`
from configuration. Keeping them in a module with no Twisted import lets the scheduler and its
tests depend on the contract without the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ivr.ami.message import AmiMessage

#: ``unknown``: the channel was gone when the AMI link came back and its OriginateResponse was
#: lost with the link; the IVR result (if the citizen answered) decides, not a guess.
OutcomeResult = Literal["answered", "busy", "no_answer", "congestion", "failed", "unknown"]

#: OriginateResponse ``Reason`` codes as measured on a real Asterisk 22 (see asterisk-facts.md).
REASON_RESULTS: dict[int, OutcomeResult] = {
    4: "answered",
    5: "busy",
    8: "congestion",
    3: "no_answer",
    0: "failed",
}


def result_for_reason(reason_code: int) -> OutcomeResult:
    """Map an OriginateResponse Reason to an outcome; unknown codes are failures, not guesses."""
    return REASON_RESULTS.get(reason_code, "failed")


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """One attempt to call one citizen back; ``number`` is the national number to dial.

    ``ask_rating`` is for citizens who never replied to the SMS (``trigger == "non_response"``):
    the IVR then asks for the rating (1/2/3) before the reason.
    """

    callback_id: int
    attempt_id: int
    number: str
    ask_rating: bool = False


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How the originate of one attempt ended, before any conversation took place.

    ``result`` is ``answered`` when the citizen picked up (the AGI script then records what was
    said); every other value is retried by the scheduler. ``reason_code`` is the raw
    OriginateResponse Reason (``-1`` when no OriginateResponse came before the overall timeout).
    ``hangup_cause`` comes from a Hangup event of the same Uniqueid when one was seen.
    """

    attempt_id: int
    channel_id: str
    result: OutcomeResult
    reason_code: int
    hangup_cause: int | None = None
    hangup_cause_txt: str | None = None


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The channel of an attempt is gone (or we stopped waiting for it).

    For an answered call this fires on the Hangup event of the callback leg, which is when the
    AGI script has finished and its result row (or spool file) exists. ``timed_out`` is true when
    ``call_max_seconds`` passed without a Hangup (events lost, e.g. while AMI was reconnecting).
    """

    attempt_id: int
    channel_id: str
    hangup_cause: int | None
    hangup_cause_txt: str | None
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """Everything the AMI client needs; the lead maps the ``[ami]`` config section onto it.

    ``endpoint`` is optional: when empty, ``host``/``port`` build a ``tcp:`` endpoint string.
    ``originate_timeout_ms`` is how long the phone rings (AMI ``Timeout``); ``outcome_timeout``
    is how long we wait for the OriginateResponse before declaring the attempt failed;
    ``call_max_seconds`` bounds how long we wait for the Hangup of an answered call; and
    ``hangup_grace`` is how long a Reason 0 failure waits for its Hangup event (the only place
    the real cause shows). ``ping_interval`` (0 disables) sends an AMI ``Ping`` that must be
    answered within ``action_timeout``, so a half-open TCP link (Asterisk restarted, a NAT
    dropped the flow) is noticed and reconnected instead of silently losing every event.
    """

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "pingjing"
    secret: str = field(default="", repr=False)
    dial_template: str = "PJSIP/{number}@carrier"
    context: str = "pingjing-callback"
    extension: str = "s"
    priority: int = 1
    caller_id: str = ""
    originate_timeout_ms: int = 30_000
    action_timeout: float = 10.0
    outcome_timeout: float = 90.0
    call_max_seconds: float = 900.0
    hangup_grace: float = 2.0
    ping_interval: float = 30.0
    endpoint: str = ""
    channel_id_prefix: str = "pj"

    def validate(self) -> AmiSettings:
        """Refuse settings that could only fail later, naming the key (the loader adds the file)."""
        if "{number}" not in self.dial_template:
            raise ValueError("ami.dial_template: must contain {number}")
        try:
            self.dial_template.format(number="13800000000")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ami.dial_template: not a valid template ({exc})") from None
        if not self.endpoint and not 0 < self.port < 65536:
            raise ValueError("ami.port: must be between 1 and 65535")
        if not self.context or not self.extension:
            raise ValueError("ami.context/ami.extension: must not be empty")
        if self.priority < 1:
            raise ValueError("ami.priority: must be at least 1")
        for key in (
            "originate_timeout_ms",
            "action_timeout",
            "outcome_timeout",
            "call_max_seconds",
        ):
            if getattr(self, key) <= 0:
                raise ValueError(f"ami.{key}: must be positive")
        if self.outcome_timeout * 1000 <= self.originate_timeout_ms:
            raise ValueError(
                "ami.outcome_timeout: must exceed the ring time (originate_timeout_ms / 1000), "
                "or every unanswered call would be reported as failed"
            )
        if any(c in self.caller_id for c in "\r\n"):
            raise ValueError("ami.caller_id: must be one line")
        return self

    def client_endpoint(self) -> str:
        """The Twisted client endpoint string to connect to."""
        return self.endpoint or f"tcp:host={self.host}:port={self.port}"

    def dial_string(self, number: str) -> str:
        """Render the dial template; a number with anything but digits and '+' is refused."""
        if not number or not all(c.isdigit() or c == "+" for c in number) or "+" in number[1:]:
            raise ValueError(
                f"dial number must be digits with an optional leading '+', "
                f"got {len(number)} characters ending in {number[-2:]!r}"
            )
        return self.dial_template.format(number=number)


class AmiError(Exception):
    """Base of everything the AMI layer raises. When ``originate`` fails with one of these the
    call was not placed (or its fate is unknown: :class:`AmiTimeoutError`)."""


class AmiNotConnectedError(AmiError):
    """The manager link is down; nothing was sent."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``; ``response`` is the full reply."""

    def __init__(self, action: str, response: AmiMessage) -> None:
        self.action = action
        self.response = response
        super().__init__(f"AMI action {action} failed: {response.get('Message', '(no message)')}")


class AmiTimeoutError(AmiError):
    """No reply to an action within its deadline."""


class AmiConnectionLostError(AmiError):
    """The connection closed while an action was waiting for its reply."""


class AmiLoginError(AmiError):
    """Asterisk refused our credentials (the secret itself is never part of the message)."""
