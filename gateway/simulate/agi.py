"""The Asterisk side of AGI for one answered call, without I/O: command lines in, replies out.

An AGI script reads ``agi_*`` headers and a blank line on stdin, then writes one command per line
and reads one ``200 result=...`` reply per command. :class:`AgiChannel` plays Asterisk 22 as
measured (asterisk-facts.md): escape digits stop a prompt, keys pressed between commands are kept
for the next reading command, ``GET DATA`` returns ``result=<digits> (timeout)`` when the caller
stops early, ``RECORD FILE`` ends with ``#`` (``result=35 (dtmf)``) or ``(timeout)``, a hangup
answers the command in progress with ``result=-1`` (``-1 (hangup) endpos=N`` while recording)
and later channel commands with ``511``, while ``VERBOSE`` / ``SET VARIABLE`` / ``GET VARIABLE``
keep working. Unknown commands get ``510``, missing arguments ``520`` with the usage.

What the caller does comes from a :class:`~gateway.simulate.callees.CallScript`. The channel
only decides replies; writing the recording and signalling the process (SIGHUP) belong to the
runner in :mod:`gateway.simulate.pbx`, told through :attr:`AgiChannel.hangup_pending` and the
``recorder`` callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.simulate.callees import CallScript, HangUp, Input, Keys, Speak

DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
INVALID = "510 Invalid or unknown command"
#: A prompt played to the end reports this many samples (12 s at 8 kHz) as ``endpos``.
PROMPT_SAMPLES = 96_000
#: The recording a caller ends with ``#`` loses about 0.2 s (the key is trimmed).
HASH_TRIM_MS = 200

#: Commands that read or play on the channel: they consume caller input and fail when it is dead.
CHANNEL_COMMANDS = frozenset(
    {
        "ANSWER",
        "STREAM FILE",
        "CONTROL STREAM FILE",
        "GET DATA",
        "GET OPTION",
        "WAIT FOR DIGIT",
        "RECORD FILE",
        "SAY DIGITS",
        "SAY NUMBER",
        "SAY ALPHA",
        "EXEC",
        "CHANNEL STATUS",
        "SET AUTOHANGUP",
    }
)
_COMMANDS = sorted(
    CHANNEL_COMMANDS
    | {"HANGUP", "SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "VERBOSE", "NOOP"},
    key=lambda c: -len(c.split()),
)
_USAGE = {
    "STREAM FILE": "STREAM FILE <filename> <escape_digits> [sample offset]",
    "CONTROL STREAM FILE": "CONTROL STREAM FILE <filename> <escape_digits> [skipms] ...",
    "GET DATA": "GET DATA <file to be streamed> [timeout] [max digits]",
    "GET OPTION": "GET OPTION <filename> <escape_digits> [timeout]",
    "WAIT FOR DIGIT": "WAIT FOR DIGIT <timeout>",
    "RECORD FILE": "RECORD FILE <filename> <format> <escape digits> <timeout> "
    "[offset samples] [BEEP] [s=silence]",
    "SET VARIABLE": "SET VARIABLE <variablename> <value>",
    "GET VARIABLE": "GET VARIABLE <variablename>",
    "GET FULL VARIABLE": "GET FULL VARIABLE <variablename> [<channel name>]",
    "SAY DIGITS": "SAY DIGITS <number> <escape digits>",
    "SAY NUMBER": "SAY NUMBER <number> <escape digits> [gender]",
    "SAY ALPHA": "SAY ALPHA <string> <escape digits>",
    "EXEC": "EXEC <application> <options>",
    "SET AUTOHANGUP": "SET AUTOHANGUP <time>",
}
_MIN_ARGS = {
    "STREAM FILE": 2,
    "CONTROL STREAM FILE": 2,
    "GET DATA": 1,
    "GET OPTION": 2,
    "WAIT FOR DIGIT": 1,
    "RECORD FILE": 4,
    "SET VARIABLE": 2,
    "GET VARIABLE": 1,
    "GET FULL VARIABLE": 1,
    "SAY DIGITS": 2,
    "SAY NUMBER": 2,
    "SAY ALPHA": 2,
    "EXEC": 1,
    "SET AUTOHANGUP": 1,
}


def split_args(line: str) -> list[str]:
    """Split an AGI command line as Asterisk does: blanks separate, double quotes group,
    a backslash escapes the next character."""
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = started = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        args.append("".join(current))
    return args


@dataclass
class Recording:
    """A file ``RECORD FILE`` asked for, as written (or refused)."""

    path: str
    ms: int
    ended_by: str  # "dtmf" | "timeout" | "hangup" | "writefile"


@dataclass
class AgiChannel:
    """One answered channel talking AGI. Feed it stdout bytes of the script; send back what
    :meth:`feed` returns. ``recorder(path, ms)`` writes audio and returns False if it cannot."""

    env: dict[str, str]
    variables: dict[str, str]
    script: CallScript
    recorder: Callable[[str, int], bool]
    sounds_dir: str = "."
    alive: bool = True
    hangup_pending: bool = False  # the runner should signal the script (SIGHUP) and clear it
    hung_up_by: str | None = None  # "callee" | "script"
    transcript: list[tuple[str, str]] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    keys_taken: list[str] = field(default_factory=list)
    _buffer: bytes = b""
    _inputs: list[Input] = field(default_factory=list)
    _typeahead: str = ""

    def __post_init__(self) -> None:
        self._inputs = list(self.script.inputs)

    def greeting(self) -> bytes:
        """The ``agi_*`` header block that starts the conversation."""
        lines = [f"{key}: {value}\n" for key, value in self.env.items()]
        return ("".join(lines) + "\n").encode("utf-8")

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out: list[str] = []
        while b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace").strip()
            if not line:
                continue
            reply = self.command(line)
            self.transcript.append((line, reply))
            out.append(reply + "\n")
        return "".join(out).encode("utf-8")

    # -- dispatch --------------------------------------------------------------------------

    def command(self, line: str) -> str:
        words = split_args(line)
        upper = [w.upper() for w in words]
        for name in _COMMANDS:
            n = len(name.split())
            if upper[:n] == name.split():
                args = words[n:]
                break
        else:
            return INVALID
        if len(args) < _MIN_ARGS.get(name, 0):
            usage = _USAGE.get(name, name)
            return (
                "520-Invalid command syntax.  Proper usage follows:\n"
                f"{usage}\n520 End of proper usage."
            )
        if name in CHANNEL_COMMANDS and not self.alive:
            return DEAD
        handler = getattr(self, "_" + name.lower().replace(" ", "_"))
        return handler(args)

    # -- caller input ----------------------------------------------------------------------

    def _next(self) -> Input | None:
        return self._inputs[0] if self._inputs else None

    def _callee_hangs_up(self) -> bool:
        if isinstance(self._next(), HangUp) and not self._typeahead:
            self._inputs.pop(0)
            self.alive = False
            self.hangup_pending = True
            self.hung_up_by = "callee"
            return True
        return False

    def _take_keys(self) -> str:
        """All keys the caller has pressed or is about to press for this question."""
        keys = self._typeahead
        self._typeahead = ""
        if not keys and isinstance(self._next(), Keys):
            item = self._inputs.pop(0)
            assert isinstance(item, Keys)
            keys = item.digits
        return keys

    def _give_back(self, keys: str) -> None:
        self._typeahead = keys + self._typeahead

    # -- commands --------------------------------------------------------------------------

    def _answer(self, args: list[str]) -> str:
        return "200 result=0"

    def _noop(self, args: list[str]) -> str:
        return "200 result=0"

    def _verbose(self, args: list[str]) -> str:
        return "200 result=1"

    def _hangup(self, args: list[str]) -> str:
        if self.alive:
            self.alive = False
            self.hangup_pending = True
            self.hung_up_by = "script"
        return "200 result=1"

    def _channel_status(self, args: list[str]) -> str:
        return "200 result=6"

    def _set_autohangup(self, args: list[str]) -> str:
        return "200 result=0"

    def _exec(self, args: list[str]) -> str:
        if self._callee_hangs_up():
            return "200 result=-1"
        return "200 result=0"

    def _set_variable(self, args: list[str]) -> str:
        self.variables[args[0]] = args[1]
        return "200 result=1"

    def _lookup(self, name: str) -> str | None:
        builtins = {
            "UNIQUEID": self.env.get("agi_uniqueid"),
            "CHANNEL": self.env.get("agi_channel"),
            "CONTEXT": self.env.get("agi_context"),
            "EXTEN": self.env.get("agi_extension"),
            "CALLERID(num)": self.env.get("agi_callerid"),
        }
        if name in self.variables:
            return self.variables[name]
        return builtins.get(name)

    def _get_variable(self, args: list[str]) -> str:
        value = self._lookup(args[0])
        return "200 result=0" if value is None else f"200 result=1 ({value})"

    def _get_full_variable(self, args: list[str]) -> str:
        expr = args[0]
        if expr.startswith("${") and expr.endswith("}"):
            expr = expr[2:-1]
        value = self._lookup(expr)
        return "200 result=0" if value is None else f"200 result=1 ({value})"

    def _play(self, escape: str) -> str:
        """A prompt plays; a barging caller may stop it with an escape digit."""
        if self._callee_hangs_up():
            return "200 result=-1 endpos=0"
        if self._typeahead and self._typeahead[0] in escape:
            digit, self._typeahead = self._typeahead[0], self._typeahead[1:]
            self.keys_taken.append(digit)
            return f"200 result={ord(digit)} endpos={PROMPT_SAMPLES // 4}"
        item = self._next()
        if isinstance(item, Keys) and item.barge_in and item.digits and item.digits[0] in escape:
            self._inputs.pop(0)
            digit = item.digits[0]
            self._typeahead += item.digits[1:]
            self.keys_taken.append(digit)
            return f"200 result={ord(digit)} endpos={PROMPT_SAMPLES // 4}"
        return f"200 result=0 endpos={PROMPT_SAMPLES}"

    def _stream_file(self, args: list[str]) -> str:
        return self._play(args[1])

    def _control_stream_file(self, args: list[str]) -> str:
        reply = self._play(args[1])
        return reply.split(" endpos=")[0] + (" endpos=0" if "endpos" in reply else "")

    def _say_digits(self, args: list[str]) -> str:
        return self._play(args[1]).split(" endpos=")[0]

    _say_number = _say_digits
    _say_alpha = _say_digits

    def _wait_for_digit(self, args: list[str]) -> str:
        if self._callee_hangs_up():
            return "200 result=-1"
        keys = self._take_keys()
        if not keys:
            if args[0].strip() in ("-1",) and not self._inputs:
                # an endless wait on a silent line: the caller gives up and hangs up
                self.alive, self.hangup_pending, self.hung_up_by = False, True, "callee"
                return "200 result=-1"
            return "200 result=0"
        self._give_back(keys[1:])
        self.keys_taken.append(keys[0])
        return f"200 result={ord(keys[0])}"

    def _get_option(self, args: list[str]) -> str:
        reply = self._play(args[1])
        if not reply.startswith("200 result=0 "):
            return reply
        wait = self._wait_for_digit([args[2] if len(args) > 2 else "5000"])
        if wait == "200 result=0":
            return f"200 result=0 endpos={PROMPT_SAMPLES}"
        if wait.startswith("200 result=-1"):
            return "200 result=-1 endpos=0"
        return f"{wait} endpos={PROMPT_SAMPLES}"

    def _get_data(self, args: list[str]) -> str:
        try:
            maximum = int(args[2]) if len(args) > 2 else 1024
        except ValueError:
            maximum = 1024
        maximum = maximum if maximum > 0 else 1024
        if self._callee_hangs_up():
            return "200 result=-1"
        keys = self._take_keys()
        if "#" in keys:
            head, _, tail = keys.partition("#")
            self._give_back(tail)
            self.keys_taken.extend(head)
            return f"200 result={head[:maximum]}"
        if len(keys) >= maximum:
            self._give_back(keys[maximum:])
            self.keys_taken.extend(keys[:maximum])
            return f"200 result={keys[:maximum]}"
        self.keys_taken.extend(keys)
        return f"200 result={keys} (timeout)"

    def _record_file(self, args: list[str]) -> str:
        path, fmt, escape = args[0], args[1], args[2]
        try:
            max_ms = int(args[3])
        except ValueError:
            max_ms = -1
        silence_ms = 0
        for extra in args[4:]:
            if extra.lower().startswith("s="):
                try:
                    silence_ms = int(extra[2:]) * 1000
                except ValueError:
                    silence_ms = 0
        if not os.path.isabs(path):
            path = os.path.join(self.sounds_dir, path)
        target = f"{path}.{fmt}"
        item = self._next()
        if isinstance(item, HangUp):
            self._inputs.pop(0)
            ms = 800
            self.alive, self.hangup_pending, self.hung_up_by = False, True, "callee"
            ended = "hangup"
        elif isinstance(item, Speak):
            self._inputs.pop(0)
            ms = item.ms if max_ms <= 0 else min(item.ms, max_ms)
            if item.press_hash and "#" in escape and (max_ms <= 0 or item.ms < max_ms):
                ms, ended = max(0, ms - HASH_TRIM_MS), "dtmf"
            else:
                ms = ms if silence_ms <= 0 else min(max_ms if max_ms > 0 else ms, ms + silence_ms)
                ended = "timeout"
        else:
            # a caller who says nothing: never "silent" to the detector, empty after the maximum
            ms, ended = 0, "timeout"
        if not self.recorder(target, ms):
            self.recordings.append(Recording(target, 0, "writefile"))
            return "200 result=-1 (writefile)"
        self.recordings.append(Recording(target, ms, ended))
        endpos = ms * 8
        if ended == "dtmf":
            return f"200 result=35 (dtmf) endpos={endpos}"
        if ended == "hangup":
            return f"200 result=-1 (hangup) endpos={endpos}"
        return f"200 result=0 (timeout) endpos={endpos}"
