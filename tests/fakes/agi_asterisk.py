"""A fake Asterisk that runs the real ``pingjing-agi`` as a subprocess and speaks AGI to it.

It behaves as Asterisk 22 was measured to (asterisk-facts.md): ``agi_*`` headers and a blank
line, one ``200 result=...`` line per command, escape digits that stop a prompt, keys kept for
the next reading command, ``(timeout)`` on a silent RECORD FILE with the file still written,
``result=-1`` for a hangup during a prompt or key wait, ``result=-1 (hangup) endpos=N`` with a
partial file during RECORD FILE, SIGHUP afterwards, ``511`` for channel commands on a dead
channel, ``510`` for unknown commands and ``520`` for missing arguments.

The caller is a script of :class:`Press`, :class:`Silence`, :class:`Speak`, :class:`HangUp` and
:class:`HangUpBetween`, consumed by the commands that read the channel. :class:`AgiPeer` is the
sans-IO part (a command line in, a reply out) and is tested on its own; :func:`run_agi` drives a
subprocess with it, using ``select`` with a deadline so a stuck script fails the test instead of
hanging it.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROMPT_SAMPLES = 96_000  # a prompt played to the end: 12 s at 8 kHz
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
INVALID = "510 Invalid or unknown command"

CHANNEL_COMMANDS = (
    "ANSWER",
    "STREAM FILE",
    "WAIT FOR DIGIT",
    "GET DATA",
    "RECORD FILE",
    "CHANNEL STATUS",
)
ALIVE_ON_DEAD = ("VERBOSE", "SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "NOOP")
KNOWN = sorted((*CHANNEL_COMMANDS, *ALIVE_ON_DEAD, "HANGUP"), key=lambda c: -len(c.split()))
MIN_ARGS = {"STREAM FILE": 2, "WAIT FOR DIGIT": 1, "GET DATA": 1, "RECORD FILE": 4}


# -- the caller's script -------------------------------------------------------------------------


@dataclass(frozen=True)
class Press:
    """A key. ``barge``: pressed while a prompt plays (stops it only if it is an escape digit,
    otherwise Asterisk discards it); else pressed after the prompt, read by the next wait."""

    digit: str
    barge: bool = False


@dataclass(frozen=True)
class Silence:
    """The caller presses nothing: the next key wait times out."""


@dataclass(frozen=True)
class Speak:
    """The caller talks for ``ms``; ``end`` is '#' (trims ~0.2 s), 'silence' or 'max'."""

    ms: int = 3000
    end: str = "#"


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up during the next channel command (``during="record"``: only once
    RECORD FILE runs, ``after_ms`` into the recording)."""

    after_ms: int = 1500
    during: str = "any"


@dataclass(frozen=True)
class HangUpBetween:
    """The caller hangs up while the script runs its own code: no reply is pending, the
    script learns of it from SIGHUP (``sighup``) or, if the signal is late, from a 511."""

    sighup: bool = True


Step = Press | Silence | Speak | HangUp | HangUpBetween


def wav_bytes(ms: int) -> bytes:
    """A 8 kHz mono 16-bit WAV of ``ms`` of (silent) audio, as Asterisk's ``wav`` format."""
    data = b"\x00\x00" * (8 * ms)
    header = (
        b"RIFF"
        + (36 + len(data)).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + (8000).to_bytes(4, "little")
        + (16000).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + len(data).to_bytes(4, "little")
    )
    return header + data


# -- the sans-IO peer ----------------------------------------------------------------------------


@dataclass
class AgiPeer:
    """Decides Asterisk's reply to each command line.

    After a reply, :attr:`send_sighup` says whether the runner must signal the script now, and
    :attr:`close` whether it must close the pipes. ``on_hangup`` picks what a hangup does:
    ``sighup`` (the default: the signal), ``late`` (the signal has not come yet: the pipes stay
    open and channel commands get 511), ``eof`` (AGISIGHUP=no: stdin is closed) or ``exit``
    (AGIEXITONHANGUP=yes: both pipes closed at once).
    """

    script: list[Step]
    variables: dict[str, str] = field(default_factory=dict)
    missing_sounds: frozenset[str] = frozenset()
    on_hangup: str = "sighup"
    dead: bool = False
    send_sighup: bool = False
    close: bool = False
    buffered: str = ""
    commands: list[str] = field(default_factory=list)
    recordings: list[Path] = field(default_factory=list)
    set_variables: dict[str, str] = field(default_factory=dict)

    def _next(self) -> Step | None:
        return self.script[0] if self.script else None

    def _take(self) -> Step | None:
        return self.script.pop(0) if self.script else None

    def _hangup_now(self, signal_now: bool = True) -> None:
        self.dead = True
        if self.on_hangup in ("eof", "exit"):
            self.close = True
        elif self.on_hangup == "sighup" and signal_now:
            self.send_sighup = True

    def between_commands(self) -> None:
        """Called before reading each command: a HangUpBetween at the head happens now."""
        step = self._next()
        if isinstance(step, HangUpBetween) and not self.dead:
            self._take()
            self._hangup_now(signal_now=step.sighup)

    def reply(self, line: str) -> str:
        self.send_sighup = False
        self.commands.append(line)
        name = next((c for c in KNOWN if line.upper().startswith(c)), None)
        if name is None:
            return INVALID
        try:
            args = shlex.split(line[len(name) :])
        except ValueError:
            args = line[len(name) :].split()
        if len(args) < MIN_ARGS.get(name, 0):
            return (
                "520-Invalid command syntax.  Proper usage follows:\n"
                f"Usage: {name}\n520 End of proper usage."
            )
        if self.dead and name in (*CHANNEL_COMMANDS, "HANGUP"):
            return DEAD
        handler = getattr(self, "_" + name.lower().replace(" ", "_"))
        return handler(args)

    # -- commands that do not read the channel

    def _verbose(self, args: list[str]) -> str:
        return "200 result=1"

    def _noop(self, args: list[str]) -> str:
        return "200 result=0"

    def _set_variable(self, args: list[str]) -> str:
        if len(args) >= 2:
            self.set_variables[args[0]] = args[1]
        return "200 result=1"

    def _get_variable(self, args: list[str]) -> str:
        value = self.variables.get(args[0] if args else "")
        return f"200 result=1 ({value})" if value is not None else "200 result=0"

    _get_full_variable = _get_variable

    def _answer(self, args: list[str]) -> str:
        return "200 result=0"

    def _channel_status(self, args: list[str]) -> str:
        return "200 result=6"

    def _hangup(self, args: list[str]) -> str:
        self._hangup_now()
        return "200 result=1"

    # -- commands that read the channel

    def _caller_hangs_up_here(self) -> bool:
        step = self._next()
        if isinstance(step, HangUp) and step.during == "any":
            self._take()
            return True
        return False

    def _stream_file(self, args: list[str]) -> str:
        name, escapes = args[0], args[1]
        if name in self.missing_sounds:
            return "200 result=-1 endpos=0"
        if self._caller_hangs_up_here():
            self._hangup_now()
            return "200 result=-1"
        step = self._next()
        if isinstance(step, Press) and step.barge:
            self._take()
            if step.digit in escapes:
                return f"200 result={ord(step.digit)} endpos={PROMPT_SAMPLES // 3}"
            # not an escape digit: discarded while the prompt plays
        return f"200 result=0 endpos={PROMPT_SAMPLES}"

    def _wait_for_digit(self, args: list[str]) -> str:
        if self.buffered:
            digit, self.buffered = self.buffered[0], self.buffered[1:]
            return f"200 result={ord(digit)}"
        if self._caller_hangs_up_here():
            self._hangup_now()
            return "200 result=-1"
        step = self._take()
        if isinstance(step, Press):
            return f"200 result={ord(step.digit)}"
        return "200 result=0"

    def _get_data(self, args: list[str]) -> str:
        if self._caller_hangs_up_here():
            self._hangup_now()
            return "200 result=-1"
        step = self._take()
        if isinstance(step, Press):
            return f"200 result={step.digit} (timeout)"
        return "200 result= (timeout)"

    def _record_file(self, args: list[str]) -> str:
        path, fmt, escapes = args[0], args[1], args[2]
        target = Path(f"{path}.{fmt}")
        if isinstance(self._next(), HangUp):
            step = self._take()
            target.write_bytes(wav_bytes(step.after_ms))
            self.recordings.append(target)
            self._hangup_now()
            return f"200 result=-1 (hangup) endpos={8 * step.after_ms}"
        step = self._take()
        if not isinstance(step, Speak):
            step = Speak(ms=0, end="max")  # nobody talks: an empty file after the maximum
        if step.end == "#" and "#" in escapes:
            ms = max(step.ms - 200, 0)
            target.write_bytes(wav_bytes(ms))
            self.recordings.append(target)
            return f"200 result=35 (dtmf) endpos={8 * ms}"
        target.write_bytes(wav_bytes(step.ms))
        self.recordings.append(target)
        return f"200 result=0 (timeout) endpos={8 * step.ms}"


# -- the runner ------------------------------------------------------------------------------------


def agi_command(config: str | None = None) -> list[str]:
    """The installed ``pingjing-agi`` console script next to this Python."""
    script = Path(sys.executable).with_name("pingjing-agi")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "gateway.agi_main"]
    return [*cmd, *([config] if config else [])]


def headers(
    channel_id: str,
    number: str = "13812345678",
    *,
    callingpres: int = 0,
    context: str = "pingjing-callback",
    extension: str = "s",
) -> list[tuple[str, str]]:
    """What res_agi.c's setup_env writes: ``agi_callerid`` is the number or ``unknown`` when
    there is none, whatever its presentation; ``agi_callingpres`` is the presentation
    (0x20 in the 0x60 bits: restricted, the caller withheld it)."""
    return [
        ("agi_request", "pingjing-agi"),
        ("agi_channel", "PJSIP/carrier-00000001"),
        ("agi_language", "en"),
        ("agi_type", "PJSIP"),
        ("agi_uniqueid", channel_id),
        ("agi_version", "22.10.1"),
        ("agi_callerid", number),
        ("agi_calleridname", "unknown"),
        ("agi_callingpres", str(callingpres)),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", "unknown"),
        ("agi_rdnis", "unknown"),
        ("agi_context", context),
        ("agi_extension", extension),
        ("agi_priority", "2"),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", "140000000000001"),
    ]


@dataclass
class AgiSession:
    peer: AgiPeer
    exit_code: int | None
    stderr: str
    commands: list[str]


class AgiTimeoutError(AssertionError):
    pass


def _readline(fd: int, buf: bytearray, deadline: float) -> bytes | None:
    import time

    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AgiTimeoutError("pingjing-agi sent no command before the deadline")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
    i = buf.index(b"\n")
    line = bytes(buf[:i])
    del buf[: i + 1]
    return line


def run_agi(
    peer: AgiPeer,
    *,
    channel_id: str = "pj-9-abc",
    env: dict[str, str] | None = None,
    config: str | None = None,
    timeout: float = 30.0,
    extra_header: bytes = b"",
    command: list[str] | None = None,
    header: dict[str, object] | None = None,
) -> AgiSession:
    """Run ``pingjing-agi`` against ``peer`` until it exits; never waits past ``timeout``."""
    import time

    child_env = {k: v for k, v in os.environ.items() if not k.startswith("PINGJING_")}
    child_env.update(env or {})
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            command or agi_command(config),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=child_env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = bytearray()
        try:
            fields = headers(channel_id, **(header or {}))  # type: ignore[arg-type]
            head = "".join(f"{k}: {v}\n" for k, v in fields).encode()
            proc.stdin.write(head + extra_header + b"\n")
            proc.stdin.flush()
            while True:
                peer.between_commands()
                if peer.send_sighup:
                    proc.send_signal(signal.SIGHUP)
                    peer.send_sighup = False
                if peer.close:
                    break
                line = _readline(proc.stdout.fileno(), buf, deadline)
                if line is None:
                    break
                reply = peer.reply(line.decode("utf-8", "replace").rstrip("\r"))
                try:
                    proc.stdin.write(reply.encode() + b"\n")
                    proc.stdin.flush()
                except BrokenPipeError:
                    break
                if peer.send_sighup:
                    proc.send_signal(signal.SIGHUP)
                    peer.send_sighup = False
                if peer.close:
                    break
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            if peer.close:
                proc.stdout.close()
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 1.0))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AgiTimeoutError("pingjing-agi did not exit before the deadline") from None
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return AgiSession(peer=peer, exit_code=proc.returncode, stderr=stderr, commands=peer.commands)
