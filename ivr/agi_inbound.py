"""``pingjing-agi <config> inbound``: the AGI program on the evaluation line (电话评警).

The same program as the callback (:mod:`ivr.agi_callback`: pyst2 behind :class:`AgiChannel`,
the same hangup handling, the same configuration), run by the ``pingjing-inbound`` dialplan
context for a call *to* the evaluation number. Before answering it takes a line
(:mod:`ivr.lines`: a bounded number of inbound calls, sharing the trunk with the callbacks); a
caller beyond the bound hears "please call later". Unlike the callback it needs the database
before the first question (which surveys the caller's number has open), so the store is
opened at the start; if the database does not answer, the caller can still leave a complaint,
and the result is spooled.

The store is injected by the entry point (``gateway.agi_main``), as for the callback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from ivr.agi_callback import AgiChannel, AgiConfig, _safe_error, load_ivr_config
from ivr.conversation import ChannelError, ChannelHangup, FlowSettings
from ivr.inbound_flow import InboundFlow, InboundResult, SurveyDirectory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol, TextIO
else:
    Protocol = object

MODE = "inbound"
RESULT_VARIABLE = "PINGJING_RESULT"
#: What Asterisk puts in ``agi_callerid`` when there is no number to show.
_NO_NUMBER = frozenset({"", "unknown", "anonymous", "private", "restricted", "withheld"})


class LineStore(Protocol):
    """What the program needs of the database for one call (``storage.inbound_results``)."""

    directory: SurveyDirectory
    code_length: int

    def write(self, result: InboundResult) -> bool: ...

    def close(self) -> None: ...


#: Opens the store for the configuration (injected by ``gateway.agi_main``); may raise.
StoreFactory = Callable[[AgiConfig], LineStore]


class _NoSurveys:
    """The directory when the database is unreachable: no survey is found by number or code,
    and the caller is offered the complaint."""

    def by_phone(self, phone: str) -> list[int]:
        return []

    def by_code(self, code: str) -> int | None:
        return None


#: ``agi_callingpres``: the presentation bits, and the value saying the caller withheld it.
_PRES_MASK, _PRES_RESTRICTED = 0x60, 0x20


class _Prefetch:
    """The store opened, and the caller's surveys looked up, in a thread while the welcome
    plays: importing SQLAlchemy and connecting take about half a second the caller would
    otherwise hear as silence after picking up (docs/benchmarks.md). It is the flow's
    directory; each question waits for the thread first."""

    #: Longest wait for the database before the caller is told no survey was found.
    TIMEOUT_S = 10.0

    def __init__(self, store_for: StoreFactory, cfg: AgiConfig, caller: str | None) -> None:
        import threading

        self._store: LineStore | None = None
        self.error: BaseException | None = None
        self._phone = caller
        self._surveys: list[int] | None = None
        self._thread = threading.Thread(target=self._run, args=(store_for, cfg), daemon=True)
        self._thread.start()

    def _run(self, store_for: StoreFactory, cfg: AgiConfig) -> None:
        try:
            self._store = store_for(cfg)
            if self._phone:
                self._surveys = list(self._store.directory.by_phone(self._phone))
        except BaseException as exc:  # reported with the call's result
            self.error = exc

    def store(self) -> LineStore | None:
        self._thread.join(self.TIMEOUT_S)
        return None if self._thread.is_alive() else self._store

    def _ready(self) -> LineStore:
        store = self.store()
        if store is None:
            raise self.error or TimeoutError("the database did not answer in time")
        return store

    def code_length(self) -> int:
        store = self.store()
        return store.code_length if store is not None else 6

    def by_phone(self, phone: str) -> list[int]:
        store = self._ready()
        if phone == self._phone and self._surveys is not None:
            return self._surveys
        if self.error is not None:
            raise self.error
        return list(store.directory.by_phone(phone))

    def by_code(self, code: str) -> int | None:
        return self._ready().directory.by_code(code)


def caller_of(env: dict[str, str]) -> str | None:
    """The caller's mobile number normalised as event phones are, or None: none sent, withheld
    (Asterisk still passes a network-provided number with restricted presentation; a caller
    who withheld it is not identified by it), or not a mobile."""
    raw = (env.get("agi_callerid") or "").strip()
    if raw.lower() in _NO_NUMBER:
        return None
    pres = (env.get("agi_callingpres") or "0").strip()
    if pres.isdigit() and int(pres) & _PRES_MASK == _PRES_RESTRICTED:
        return None
    from gateway.events.phones import normalise_mobile

    return normalise_mobile(raw).mobile


def _spool(result: InboundResult, cfg: AgiConfig, err: TextIO) -> str:
    from ivr.inbound_spool import write_line_spool
    from ivr.spool import spool_or_report

    return spool_or_report(write_line_spool, cfg.ivr.spool_path(cfg.data_dir), result, err)


def run_inbound(
    agi: Any, config_path: str, env: dict[str, str], err: TextIO, store_for: StoreFactory
) -> tuple[InboundResult, str]:
    """Hold one call on the evaluation line and store what it did; returns (result, where)."""
    channel = AgiChannel(agi)
    result = InboundResult(
        channel_id=agi.env.get("agi_uniqueid") or None, caller=caller_of(agi.env)
    )
    cfg = load_ivr_config(config_path, env)
    settings, problems = cfg.ivr, list(cfg.problems)
    from ivr.lines import take_inbound

    lines = None
    busy = False
    try:
        lines = take_inbound(
            str(settings.lines_path(cfg.data_dir)), settings.inbound_lines, settings.trunk_lines
        )
        busy = lines is None
    except OSError as exc:  # no place for the lock files: serve the call, say why
        problems.append(f"lines directory: {exc}")
    prefetch = None if busy else _Prefetch(store_for, cfg, result.caller)
    recordings = settings.recordings_path(cfg.data_dir)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.channel_id or "x")
    recording_path: str | None = str(recordings.absolute() / f"line-{name}")
    try:
        recordings.mkdir(parents=True, exist_ok=True)
        if not os.access(recordings, os.W_OK):
            raise PermissionError(13, "not writable by this user")
    except OSError as exc:
        problems.append(f"recordings directory {recordings}: {exc.strerror}; message skipped")
        recording_path = None
    fmt = settings.record_format

    def describe(path: str, partial: bool) -> Any:
        from ivr.recordings import describe_recording

        return describe_recording(path, partial, fmt)

    try:
        InboundFlow(
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
            prefetch or _NoSurveys(),
            code_length=prefetch.code_length if prefetch else 6,
            busy=busy,
            recording_path=recording_path,
            describe_recording=describe,
        ).run()
    finally:
        if lines is not None:
            lines.release()  # the line is free once the caller is gone, before the write
    if problems:
        result.error = "; ".join([*([result.error] if result.error else []), *problems])
    if not channel.dead:
        with contextlib.suppress(ChannelHangup, ChannelError):
            channel.set_variable(RESULT_VARIABLE, result.ended_how)
    where = "lost"
    store: LineStore | None = None
    if prefetch is None:  # a busy call is recorded too, after the caller left
        with contextlib.suppress(Exception):
            store = store_for(cfg)
    else:
        store = prefetch.store()
        if store is None and prefetch.error is not None:
            problems.append(f"database unavailable: {_safe_error(prefetch.error)}")
            result.error = "; ".join(filter(None, [result.error, problems[-1]]))
    if store is not None:
        try:
            store.write(result)
            where = "db"
        except Exception as exc:
            err.write(f"pingjing-agi: call not stored in the database ({_safe_error(exc)})\n")
        finally:
            with contextlib.suppress(Exception):
                store.close()
    if where != "db":
        where = _spool(result, cfg, err)
    err.write(f"pingjing-agi: line call ended {result.ended_how}, stored: {where}\n")
    return result, where
