"""The callback conversation as pure logic against a small :class:`Channel` interface.

Nothing here knows AGI, pyst2 or Asterisk: :mod:`ivr.agi_callback` adapts pyst2 to
:class:`Channel`, and tests drive the flow with a scripted fake channel. The flow never loses
what the citizen already answered: a hangup at any point ends it with everything collected so
far (and the partial recording), an unexpected error likewise.

The conversation (issue 5):

1. answer; greeting + "are you the person who rated?" (1 yes / 2 no -> wrong_person);
2. for a citizen who never replied to the SMS: the rating itself (1/2/3); only 不满意 goes on;
3. the reason menu (1-5);
4. a voice message after the beep (``#`` or silence ends it);
5. consent to hear about the rectification (1/2);
6. thanks, hang up.

How a menu is presented and a key read (all keys escape digits, wrong and missing keys said and
the menu repeated ``max_tries`` times) is :mod:`ivr.conversation`'s, shared with the evaluation
line (:mod:`ivr.inbound_flow`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ivr.conversation import (
    ALL_KEYS,
    Channel,
    ChannelError,
    ChannelHangup,
    Conversation,
    FlowSettings,
    RecordingInfo,
    now_iso,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ALL_KEYS",
    "CallResult",
    "CallbackFlow",
    "Channel",
    "ChannelError",
    "ChannelHangup",
    "FlowSettings",
    "RecordingInfo",
]

ENDINGS: tuple[str, ...] = ("completed", "wrong_person", "no_input", "hangup", "error")

#: Reason menu key -> identifier; reports and exports read this table too.
REASONS: dict[str, str] = {
    "1": "attitude",
    "2": "efficiency",
    "3": "communication",
    "4": "operational_error",
    "5": "other",
}
#: Rating key -> the rating vocabulary of the SMS survey (gateway/surveys/classifier).
RATINGS: dict[str, str] = {"1": "satisfied", "2": "basically_satisfied", "3": "unsatisfied"}
RESULT_VERSION = 1


@dataclass
class CallResult:
    """Everything one answered attempt produced; what the database (or the spool) receives."""

    callback_id: int | None
    attempt_id: int | None
    channel_id: str | None = None
    confirmed: bool | None = None
    rating: str | None = None
    reason_key: str | None = None
    reason: str | None = None
    recording: RecordingInfo | None = None
    consent: bool | None = None
    ended_how: str = "error"
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    wrong_keys: int = 0
    missed_keys: int = 0
    steps: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"v": RESULT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallResult:
        """Rebuild a result; a missing or wrong field is an error naming it."""
        if not isinstance(data, dict):
            raise ValueError(f"result must be a JSON object, got {type(data).__name__}")
        version = data.get("v")
        if version != RESULT_VERSION:
            raise ValueError(f"result version {version!r} is not supported ({RESULT_VERSION})")
        known = {f for f in cls.__dataclass_fields__}
        extra = set(data) - known - {"v"}
        if extra:
            raise ValueError(f"unknown result field(s): {', '.join(sorted(extra))}")
        for key in ("callback_id", "attempt_id"):
            if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
                raise ValueError(f"result field {key!r} must be an integer, got {data.get(key)!r}")
        if data.get("ended_how") not in ENDINGS:
            raise ValueError(f"result field 'ended_how' is {data.get('ended_how')!r}")
        rec = data.get("recording")
        fields = {k: v for k, v in data.items() if k != "v"}
        if rec is not None:
            try:
                fields["recording"] = RecordingInfo(**rec)
            except TypeError as exc:
                raise ValueError(f"result field 'recording' is malformed: {exc}") from None
        return cls(**fields)


class CallbackFlow(Conversation):
    """One callback conversation. Construct, call :meth:`run`, get a :class:`CallResult`
    (never raises); the shared steps are :class:`ivr.conversation.Conversation`'s."""

    def __init__(
        self,
        channel: Channel,
        result: CallResult,
        settings: FlowSettings,
        *,
        ask_rating: bool = False,
        recording_path: str | None = None,
        describe_recording: Callable[[str, bool], RecordingInfo | None] | None = None,
        now: Callable[[], str] = now_iso,
    ) -> None:
        super().__init__(
            channel,
            result,
            settings,
            recording_path=recording_path,
            describe_recording=describe_recording,
            now=now,
        )
        self.ask_rating = ask_rating

    def _converse(self) -> None:
        r = self.r
        self.ch.answer()
        r.steps.append("answered")
        key = self._ask(["greeting", "confirm"], ["confirm"], "12", "confirm")
        if key is None:
            return self._finish("no_input", "goodbye_no_input")
        r.confirmed = key == "1"
        if not r.confirmed:
            return self._finish("wrong_person", "goodbye_wrong_person")
        if self.ask_rating:
            key = self._ask(["rating"], ["rating"], "123", "rating")
            if key is None:
                return self._finish("no_input", "goodbye_no_input")
            r.rating = RATINGS[key]
            if r.rating != "unsatisfied":
                return self._finish("completed", "thanks")
        key = self._ask(["menu"], ["menu"], "12345", "reason")
        if key is None:
            return self._finish("no_input", "goodbye_no_input")
        r.reason_key = key
        r.reason = REASONS[key]
        self._voice_message()
        key = self._ask(["consent"], ["consent"], "12", "consent")
        if key is not None:
            r.consent = key == "1"
        return self._finish("completed", "thanks")


class UnknownAttemptError(LookupError):
    """A result names an attempt that is not in the database (or not of that callback)."""


#: Stores one result in its own transaction; False when the attempt already had one.
#: Raises :class:`UnknownAttemptError` for a result no attempt matches.
ResultWriter = Callable[[CallResult], bool]
