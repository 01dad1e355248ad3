"""``pingjing-agi``: the AGI program the dialplan runs for an answered callback.

It adapts pyst2's :class:`asterisk.agi.AGI` to :class:`ivr.flow.Channel`, runs the conversation,
and stores the result: in the database when it can, otherwise as a JSON file in the spool
directory that the daemon ingests later (:func:`ivr.spool.ingest_spool`).

Hangups reach an AGI script in three shapes (asterisk-facts.md), all turned into
:class:`~ivr.flow.ChannelHangup` here:

* during GET DATA / WAIT FOR DIGIT / STREAM FILE: ``200 result=-1``, which pyst2 raises as
  ``AGIAppError`` - not proof of a hangup by itself, so it is confirmed by the SIGHUP flag or an
  ``ANSWER`` probe answered ``511``;
* during RECORD FILE: ``result=-1 (hangup)``, raised as ``AGIResultHangup`` (the partial file
  stays on disk and is kept);
* between commands: SIGHUP, after which pyst2 raises ``AGISIGHUPHangup`` on any command; a
  command sent before the signal lands gets ``511``, and a closed stdin (``AGISIGHUP=no``,
  ``AGIEXITONHANGUP``) shows up as ``ValueError`` or a broken pipe.

Start-up is kept lean (the citizen hears silence until the first prompt): only the standard
library, pyst2 and the flow are imported before the first AGI command; SQLAlchemy and the full
configuration are loaded after the call.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.flow import (
    CallbackFlow,
    CallResult,
    ChannelError,
    ChannelHangup,
    FlowSettings,
    ResultWriter,
)
from ivr.settings import IvrSettings

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: start-up budget
    from typing import Any, TextIO

CALLBACK_ID_VARIABLE = "PINGJING_CALLBACK_ID"
ATTEMPT_ID_VARIABLE = "PINGJING_ATTEMPT_ID"
ASK_RATING_VARIABLE = "PINGJING_ASK_RATING"
RESULT_VARIABLE = "PINGJING_RESULT"
CONFIG_ENV = "PINGJING_CONFIG"
DEBUG_ENV = "PINGJING_AGI_DEBUG"

_early_sighup = False


def _note_sighup(signum: int, frame: Any) -> None:
    global _early_sighup
    _early_sighup = True


class _EndOfInput:
    """Asterisk's replies, where the end of input raises :class:`EOFError`.

    pyst2 reads a ``520`` usage text until a line starting ``520``; if stdin ends first it
    reads empty lines for ever, growing a list until the machine runs out of memory (measured:
    22 GB in seconds). Raising here ends that loop; the adapter reads it as a hangup, as it
    does pyst2's own ``ValueError`` at the end of input.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readline(self, *args: Any) -> Any:
        line = self._stream.readline(*args)
        if not line:
            raise EOFError("AGI input closed")
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class AgiChannel:
    """:class:`ivr.flow.Channel` over pyst2. Every timeout is passed explicitly (pyst2's
    defaults are 2 s for keys and 20 s for recordings)."""

    def __init__(self, agi: Any) -> None:
        from asterisk import agi as pyst

        agi.stdin = _EndOfInput(agi.stdin)
        self.agi = agi
        self.pyst = pyst
        self.dead = False
        self.hangup_how: str | None = None

    # -- the Channel interface -----------------------------------------------------------------

    def answer(self) -> None:
        self._do("ANSWER", self.agi.answer)

    def play(self, sound: str, escape_digits: str) -> str:
        return self._do(f"STREAM FILE {sound}", self.agi.stream_file, sound, escape_digits)

    def wait_digit(self, timeout_ms: int) -> str:
        return self._do("WAIT FOR DIGIT", self.agi.wait_for_digit, int(timeout_ms))

    def record(
        self, path: str, fmt: str, escape_digits: str, max_ms: int, silence_s: int, beep: bool
    ) -> str:
        key = self._do(
            "RECORD FILE",
            self.agi.record_file,
            path,
            fmt,
            escape_digits,
            int(max_ms),
            0,
            "beep",
            int(silence_s),
        )
        # pyst2 returns '\x00' for "result=0 (timeout)" (maximum or silence), else the key.
        return "timeout" if key in ("\x00", "") else "dtmf"

    def hangup(self) -> None:
        if not self.dead:
            self._do("HANGUP", self.agi.hangup)
            self.dead = True
            self.hangup_how = self.hangup_how or "ours"

    # -- helpers used by main ------------------------------------------------------------------

    def variable(self, name: str) -> str:
        return self._do(f"GET VARIABLE {name}", self.agi.get_variable, name) or ""

    def set_variable(self, name: str, value: str) -> None:
        self._do(f"SET VARIABLE {name}", self.agi.set_variable, name, value)

    # -- hangup detection ----------------------------------------------------------------------

    def _dead(self, how: str) -> ChannelHangup:
        self.dead = True
        self.hangup_how = self.hangup_how or how
        return ChannelHangup(how)

    def _do(self, what: str, fn: Any, *args: Any) -> Any:
        if self.dead:
            raise ChannelHangup(self.hangup_how or "dead")
        p = self.pyst
        try:
            return fn(*args)
        except p.AGIResultHangup:
            raise self._dead("result_hangup") from None
        except p.AGISIGHUPHangup:
            raise self._dead("sighup") from None
        except p.AGISIGPIPEHangup:
            raise self._dead("sigpipe") from None
        except p.AGIHangup:
            raise self._dead("hangup") from None
        except p.AGIAppError as exc:
            if self._confirm_dead():
                raise self._dead("result=-1") from None
            raise ChannelError(f"{what} failed on a live channel: {exc}") from None
        except p.AGIUnknownError as exc:
            if exc.args and exc.args[0] == 511:
                raise self._dead("511") from None
            raise ChannelError(f"{what}: unexpected reply {exc.args!r}") from None
        except p.AGIError as exc:  # 510, 520, unconvertible results
            raise ChannelError(f"{what}: {type(exc).__name__}: {str(exc).strip()}") from None
        except (ValueError, EOFError, OSError):
            # stdin closed (AGISIGHUP=no / AGIEXITONHANGUP=yes): nothing more will be read
            raise self._dead("eof") from None

    def _confirm_dead(self) -> bool:
        """Tell a hangup from an application error after ``result=-1``.

        The SIGHUP flag proves it; without it (the signal comes ~1.4 s late) an ``ANSWER`` is
        harmless on a live, answered channel and gets ``511`` on a dead one.
        """
        if self.agi._got_sighup or _early_sighup:
            return True
        p = self.pyst
        try:
            self.agi.execute("ANSWER")
        except p.AGIUnknownError as exc:
            return bool(exc.args and exc.args[0] == 511)
        except p.AGIAppError:
            return True  # includes every AGIHangup
        except (p.AGIError, ValueError, EOFError, OSError):
            return True
        return False


class _Sink(io.TextIOBase):
    """Where pyst2's chatter goes: it prints every header, the caller's number included."""

    def write(self, s: str) -> int:
        return len(s)


class _MaskingWriter(io.TextIOBase):
    """Debug output with phone numbers masked and any byte representable."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, s: str) -> int:
        from gateway.masking import mask_phones_in_text

        self.out.write(mask_phones_in_text(s))
        self.out.flush()
        return len(s)


# -- configuration ---------------------------------------------------------------------------------


@dataclass
class AgiConfig:
    """What the script read of the configuration file (cheaply, before the call)."""

    path: str
    data: dict[str, Any]
    env: dict[str, str]
    ivr: IvrSettings
    data_dir: str
    problems: list[str] = field(default_factory=list)


def load_ivr_config(path: str, env: dict[str, str]) -> AgiConfig:
    """The ``[ivr]`` section and ``service.data_dir``; problems are collected, not raised: a
    citizen is on the line and the defaults still hold a conversation."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    if path:
        import tomllib

        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"config {path}: {exc}")
    service = data.get("service", {})
    data_dir = str(service.get("data_dir", "var/pingjing")) if isinstance(service, dict) else ""
    data_dir = env.get("PINGJING_SERVICE_DATA_DIR", data_dir or "var/pingjing")
    try:
        from gateway.configload import load_section

        table = data.get("ivr", {})
        settings = load_section(IvrSettings, table, "ivr", path or "(defaults)", env).validate()
    except Exception as exc:
        problems.append(f"[ivr]: {exc}")
        settings = IvrSettings()
    return AgiConfig(path, data, env, settings, data_dir, problems)


def database_url(cfg: AgiConfig) -> str:
    """The daemon's database URL from ``[service]`` and ``[database]`` only (the rest of the
    file, e.g. SMPP, has no say in whether a citizen's answers can be stored)."""
    from gateway.config import DatabaseSettings, ServiceSettings, Settings
    from gateway.configload import load_section

    source = cfg.path or "(defaults)"
    sections = {
        "service": load_section(
            ServiceSettings, cfg.data.get("service", {}), "service", source, cfg.env
        ),
        "database": load_section(
            DatabaseSettings, cfg.data.get("database", {}), "database", source, cfg.env
        ),
    }
    return Settings(source, sections).database_url


# -- storing the result ----------------------------------------------------------------------------


def _safe_error(exc: BaseException) -> str:
    """An error for stderr: first line only, with any password in a URL removed."""
    import re

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1********@", text)
    return f"{type(exc).__name__}: {text}"[:300]


#: Builds the result writer for a database URL (``storage.callback_results.database_writer``,
#: injected by the ``pingjing-agi`` entry point, ``gateway.agi_main``).
WriterFactory = Callable[[str], ResultWriter]


def store_result(result: CallResult, cfg: AgiConfig, err: TextIO, writer_for: WriterFactory) -> str:
    """Database first, spool second; returns 'db', 'spool' or 'lost' (the JSON then goes to
    stderr so that even then it survives in Asterisk's log)."""
    try:
        writer_for(database_url(cfg))(result)
        return "db"
    except Exception as exc:
        err.write(
            f"pingjing-agi: result not stored in the database ({_safe_error(exc)}); spooling\n"
        )
    from ivr.spool import spool_or_report, write_spool

    return spool_or_report(write_spool, str(cfg.ivr.spool_path(cfg.data_dir)), result, err)


# -- the program -----------------------------------------------------------------------------------


def _describe(path: str, partial: bool, fmt: str) -> Any:
    from ivr.recordings import describe_recording  # hashlib: only once the call is over

    return describe_recording(path, partial, fmt)


def _int_or_none(text: str) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def run_call(
    agi: Any, config_path: str, env: dict[str, str], err: TextIO, writer_for: WriterFactory
) -> tuple[CallResult, str]:
    """Hold one conversation on ``agi`` and store its result; returns (result, where)."""
    channel = AgiChannel(agi)
    result = CallResult(
        callback_id=None, attempt_id=None, channel_id=agi.env.get("agi_uniqueid") or None
    )
    ask_rating = False
    try:
        result.callback_id = _int_or_none(channel.variable(CALLBACK_ID_VARIABLE))
        result.attempt_id = _int_or_none(channel.variable(ATTEMPT_ID_VARIABLE))
        ask_rating = channel.variable(ASK_RATING_VARIABLE).strip() in ("1", "yes", "true")
    except (ChannelHangup, ChannelError):
        pass  # the flow meets the same condition at its first command and records it
    cfg = load_ivr_config(config_path, env)
    settings, data_dir, problems = cfg.ivr, cfg.data_dir, cfg.problems
    if result.attempt_id is None:
        problems.append(f"{ATTEMPT_ID_VARIABLE} is not set on the channel")
    name = f"cb{result.callback_id or 0}-a{result.attempt_id or 0}-{result.channel_id or 'x'}"
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    recordings = settings.recordings_path(data_dir)
    recording_path: str | None = str(recordings.absolute() / name)
    try:
        recordings.mkdir(parents=True, exist_ok=True)
        if not os.access(recordings, os.W_OK):
            raise PermissionError(13, "not writable by this user")
    except OSError as exc:
        # Without a place to record, skip the voice message rather than fail the call.
        problems.append(f"recordings directory {recordings}: {exc.strerror}; message skipped")
        recording_path = None
    fmt = settings.record_format
    flow = CallbackFlow(
        channel,
        result,
        FlowSettings(
            digit_timeout_ms=settings.digit_timeout_ms,
            max_tries=settings.max_tries,
            record_max_ms=settings.record_max_ms,
            record_silence_s=settings.record_silence_s,
            record_format=fmt,
            prompts=settings.prompts,
        ),
        ask_rating=ask_rating,
        recording_path=recording_path,
        describe_recording=lambda path, partial: _describe(path, partial, fmt),
    )
    flow.run()
    if problems:
        result.error = "; ".join([*([result.error] if result.error else []), *problems])
    if not channel.dead:
        with contextlib.suppress(ChannelHangup, ChannelError):
            channel.set_variable(RESULT_VARIABLE, result.ended_how)
    where = store_result(result, cfg, err, writer_for)
    err.write(
        f"pingjing-agi: attempt {result.attempt_id} ended {result.ended_how}, stored: {where}\n"
    )
    return result, where


if TYPE_CHECKING:
    #: Another conversation to hold instead of the callback: (agi, config path, env, stderr)
    #: -> (result, where it was stored); the evaluation line's (``ivr.agi_inbound``).
    CallRunner = Callable[[Any, str, dict[str, str], Any], tuple[Any, str]]


def main(
    writer_for: WriterFactory, argv: list[str] | None = None, run: CallRunner | None = None
) -> int:
    """The AGI program; ``writer_for`` (the callback's result writer) is injected by the entry
    point (``gateway.agi_main``), which passes ``run`` for ``pingjing-agi <config> inbound``."""
    signal.signal(signal.SIGHUP, _note_sighup)  # before pyst2 takes over: never die of it
    args = sys.argv[1:] if argv is None else argv
    env = dict(os.environ)
    config_path = (args[0] if args else "") or env.get(CONFIG_ENV, "")
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(
        sys.stderr.buffer, encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    debug: TextIO = _MaskingWriter(err) if env.get(DEBUG_ENV) == "1" else _Sink()

    from asterisk.agi import AGI

    agi = AGI(stdin=stdin, stdout=stdout, stderr=debug)
    if _early_sighup:
        agi._got_sighup = True
    try:
        if run is not None:
            _, where = run(agi, config_path, env, err)
        else:
            _, where = run_call(agi, config_path, env, err, writer_for)
    except Exception as exc:  # a bug outside the flow: say so where Asterisk logs it
        err.write(f"pingjing-agi: failed: {_safe_error(exc)}\n")
        return 1
    return 1 if where == "lost" else 0
