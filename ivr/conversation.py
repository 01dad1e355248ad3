"""What every IVR conversation shares: the Channel interface, menus, key entry, the voice
message, the ending, and never losing what was collected.

:class:`ivr.flow.CallbackFlow` (the callback) and :class:`ivr.inbound_flow.InboundFlow` (the
evaluation line) are both a :class:`Conversation`: they say which menus come in which order, this
module says how a menu is presented and a key read, the same for both (issue 18: the same rules,
timeouts and invalid-key handling on the line as on the callback).

Every menu plays with all keys as escape digits, so a key pressed during the prompt counts and
a wrong one can be told apart from none; no key or a wrong key is said and the menu repeated,
``max_tries`` presentations in all, then the call ends as ``no_input``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

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


class ChannelHangup(Exception):  # noqa: N818 - it is an event, not an error
    """The citizen hung up (however Asterisk told us)."""


class ChannelError(Exception):
    """The channel is alive but refused a command (a missing prompt file, a usage error)."""


class Channel(Protocol):
    """What a conversation needs of a phone line. Every method raises :class:`ChannelHangup`
    once the line is dead and :class:`ChannelError` when a live channel refuses the command."""

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


def now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Conversation:
    """One call. Subclasses write :meth:`_converse`; :meth:`run` returns the result (never raises).

    ``result`` is the subclass's result object: it has ``steps``, ``wrong_keys``,
    ``missed_keys``, ``ended_how``, ``error``, ``recording``, ``started_at`` and ``ended_at``.
    ``recording_path`` is where RECORD FILE writes (without extension); ``describe_recording``
    turns the file Asterisk left into a :class:`RecordingInfo` (or None if there is none).
    """

    def __init__(
        self,
        channel: Channel,
        result: Any,
        settings: FlowSettings,
        *,
        recording_path: str | None = None,
        describe_recording: Callable[[str, bool], RecordingInfo | None] | None = None,
        now: Callable[[], str] = now_iso,
    ) -> None:
        self.ch = channel
        self.r = result
        self.s = settings
        self.recording_path = recording_path
        self.describe_recording = describe_recording
        self.now = now
        self._recording_started = False
        self._recording_partial = False

    def run(self) -> Any:
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

    def _converse(self) -> None:
        raise NotImplementedError

    # -- the shared steps ------------------------------------------------------------------------

    def _sound(self, key: str) -> str:
        return sound_name(key, self.s.prompts)

    def _finish(self, how: str, prompt: str) -> None:
        """Decide the ending first, then say goodbye: a hangup during it changes nothing."""
        self.r.ended_how = how
        self.r.steps.append(how)
        self.ch.play(self._sound(prompt), "")
        self.ch.hangup()

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

    def _ask(
        self, first: list[str], again: list[str], valid: str, step: str, pending: str = ""
    ) -> str | None:
        """Present a menu up to ``max_tries`` times; return the valid key or None.
        ``pending``: a key already pressed (during the prompt before it), the first answer."""
        prompts = first
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
            self._missed(step, key)
            if attempt < self.s.max_tries:
                # A key pressed while we say so is the next answer, as a citizen expects.
                pending = self._say_again(key)
            prompts = again
        return None

    def _enter_digits(
        self, prompt: str, length: int, step: str, accept: Callable[[str], bool]
    ) -> str | None:
        """Read a number of ``length`` keys (``#`` may end it early), up to ``max_tries``
        times; ``accept`` says whether it is a good one. Returns it, or None.

        Each key is waited for ``digit_timeout_ms`` (as on a menu); a key pressed during the
        prompt is the first digit; ``*`` starts the number again.
        """
        for attempt in range(1, self.s.max_tries + 1):
            digits = ""
            key = self.ch.play(self._sound(prompt), ALL_KEYS)
            while True:
                if not key:
                    key = self.ch.wait_digit(self.s.digit_timeout_ms)
                if not key or key == "#":
                    break
                if key == "*":
                    digits = ""
                else:
                    digits += key
                    if len(digits) >= length:
                        break
                key = ""
            if digits and accept(digits):
                self.r.steps.append(f"{step}:ok")
                return digits
            self._missed(step, digits)
            if attempt < self.s.max_tries:
                self.ch.play(self._sound(f"{step}_invalid" if digits else "no_input"), "")
        return None

    def _missed(self, step: str, key: str) -> None:
        if key:
            self.r.wrong_keys += 1
            self.r.steps.append(f"{step}:wrong:{key}")
        else:
            self.r.missed_keys += 1
            self.r.steps.append(f"{step}:none")

    def _say_again(self, key: str) -> str:
        return self.ch.play(self._sound("invalid" if key else "no_input"), ALL_KEYS)

    def _hangup_quietly(self) -> None:
        # The line may be dead already; the result matters more than this courtesy.
        with contextlib.suppress(Exception):
            self.ch.hangup()
