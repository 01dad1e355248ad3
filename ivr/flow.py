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

Every menu plays with all keys as escape digits, so a key pressed during the prompt counts and
a wrong one can be told apart from none; no key or a wrong key is said and the menu repeated,
``max_tries`` presentations in all, then the call ends as ``no_input``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ivr.prompts import sound_name

# typing costs milliseconds of silence on the line at start-up (see docs/benchmarks.md):
# type checkers see the real names, the running script plain stand-ins.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol
else:
    Protocol = object

ALL_KEYS = "0123456789*#"
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


class ChannelHangup(Exception):  # noqa: N818 - it is an event, not an error
    """The citizen hung up (however Asterisk told us)."""


class ChannelError(Exception):
    """The channel is alive but refused a command (a missing prompt file, a usage error)."""


class Channel(Protocol):
    """What the flow needs of a phone line. Every method raises :class:`ChannelHangup` once the
    line is dead and :class:`ChannelError` when a live channel refuses the command."""

    def answer(self) -> None: ...

    def play(self, sound: str, escape_digits: str) -> str:
        """Play a sound file; return the escape digit that stopped it, or ''."""
        ...

    def wait_digit(self, timeout_ms: int) -> str:
        """Wait for one key; return it, or '' on timeout."""
        ...

    def record(
        self, path: str, fmt: str, escape_digits: str, max_ms: int, silence_s: int, beep: bool
    ) -> str:
        """Record to ``path`` (no extension); return 'dtmf' or 'timeout' (max or silence)."""
        ...

    def hangup(self) -> None: ...


@dataclass(frozen=True)
class FlowSettings:
    digit_timeout_ms: int = 5000
    max_tries: int = 3
    record_max_ms: int = 60_000
    record_silence_s: int = 5
    record_format: str = "wav"
    beep: bool = True
    prompts: str = "pingjing"


@dataclass
class RecordingInfo:
    """A recording as found on disk after the call (``partial``: the caller hung up in it)."""

    path: str
    seconds: float | None
    bytes: int
    sha256: str
    partial: bool = False


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


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CallbackFlow:
    """One conversation. Construct, call :meth:`run`, get a :class:`CallResult` (never raises).

    ``recording_path`` is where RECORD FILE writes (without extension); ``describe_recording``
    turns the file Asterisk left into a :class:`RecordingInfo` (or None if there is none).
    """

    def __init__(
        self,
        channel: Channel,
        result: CallResult,
        settings: FlowSettings,
        *,
        ask_rating: bool = False,
        recording_path: str | None = None,
        describe_recording: Callable[[str, bool], RecordingInfo | None] | None = None,
        now: Callable[[], str] = _now_iso,
    ) -> None:
        self.ch = channel
        self.r = result
        self.s = settings
        self.ask_rating = ask_rating
        self.recording_path = recording_path
        self.describe_recording = describe_recording
        self.now = now
        self._recording_started = False
        self._recording_partial = False

    def run(self) -> CallResult:
        r = self.r
        r.started_at = r.started_at or self.now()
        try:
            self._converse()
        except ChannelHangup:
            if r.ended_how == "error" and r.error is None:
                r.ended_how = "hangup"
            r.steps.append("hangup")
            if self._recording_started and r.recording is None:
                self._recording_partial = True
        except ChannelError as exc:
            r.ended_how = "error"
            r.error = str(exc)
            self._hangup_quietly()
        except Exception as exc:  # the result must still be written: nothing lost
            r.ended_how = "error"
            r.error = f"{type(exc).__name__}: {exc}"
            self._hangup_quietly()
        if self._recording_started and self.describe_recording and self.recording_path:
            try:
                r.recording = self.describe_recording(self.recording_path, self._recording_partial)
            except OSError as exc:
                r.error = (r.error + "; " if r.error else "") + f"recording unreadable: {exc}"
        r.ended_at = self.now()
        return r

    # -- the conversation ------------------------------------------------------------------------

    def _sound(self, key: str) -> str:
        return sound_name(key, self.s.prompts)

    def _finish(self, how: str, prompt: str) -> None:
        """Decide the ending first, then say goodbye: a hangup during it changes nothing."""
        self.r.ended_how = how
        self.r.steps.append(how)
        self.ch.play(self._sound(prompt), "")
        self.ch.hangup()

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

    def _voice_message(self) -> None:
        if not self.recording_path:
            self.r.steps.append("record:skipped")
            return
        self.ch.play(self._sound("record"), "")
        self._recording_started = True
        how = self.ch.record(
            self.recording_path,
            self.s.record_format,
            "#",
            self.s.record_max_ms,
            self.s.record_silence_s,
            self.s.beep,
        )
        self.r.steps.append(f"record:{how}")

    def _ask(self, first: list[str], again: list[str], valid: str, step: str) -> str | None:
        """Present a menu up to ``max_tries`` times; return the valid key or None."""
        prompts = first
        pending = ""
        for attempt in range(1, self.s.max_tries + 1):
            key, pending = pending, ""
            if not key:
                for prompt in prompts:
                    key = self.ch.play(self._sound(prompt), ALL_KEYS)
                    if key:
                        break
            if not key:
                key = self.ch.wait_digit(self.s.digit_timeout_ms)
            if key and key in valid:
                self.r.steps.append(f"{step}:{key}")
                return key
            if key:
                self.r.wrong_keys += 1
                self.r.steps.append(f"{step}:wrong:{key}")
            else:
                self.r.missed_keys += 1
                self.r.steps.append(f"{step}:none")
            if attempt < self.s.max_tries:
                # A key pressed while we say so is the next answer, as a citizen expects.
                pending = self.ch.play(self._sound("invalid" if key else "no_input"), ALL_KEYS)
            prompts = again
        return None

    def _hangup_quietly(self) -> None:
        # The line may be dead already; the result matters more than this courtesy.
        with contextlib.suppress(Exception):
            self.ch.hangup()


class UnknownAttemptError(LookupError):
    """A result names an attempt that is not in the database (or not of that callback)."""


#: Stores one result in its own transaction; False when the attempt already had one.
#: Raises :class:`UnknownAttemptError` for a result no attempt matches.
ResultWriter = Callable[[CallResult], bool]
