"""The AGI script's fallback when the database is unreachable: one JSON file per result.

Writing is atomic (a temporary file in the same directory, fsync, then ``os.replace``), so the
daemon never reads half a file. :func:`ingest_spool` is the daemon's side: it stores each file
through :mod:`storage.callback_results` in its own transaction and only then deletes it; a file
that can never be stored (bad JSON, an attempt that does not exist) is moved to ``bad/`` with a
``.error`` file beside it saying why. Nothing is lost either way.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.flow import CallResult, ResultWriter, UnknownAttemptError

SUFFIX = ".json"
BAD_DIR = "bad"


def spool_or_report(write: Any, directory: Any, result: Any, err: Any) -> str:
    """Spool ``result`` with ``write(directory, result)``; when the spool cannot take it, print
    it whole on ``err`` (Asterisk's log keeps it) so that nothing is lost silently. Returns
    where it went: ``spool`` or ``lost``."""
    try:
        write(directory, result)
        return "spool"
    except Exception as exc:
        err.write(f"pingjing-agi: spool {directory} unavailable ({exc}); result follows\n")
        err.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return "lost"


def spool_name(result: CallResult) -> str:
    channel = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.channel_id or "")
    return f"attempt-{result.attempt_id}-{channel or 'nochannel'}{SUFFIX}"


def write_spool(directory: str | os.PathLike[str], result: CallResult) -> Path:
    """Write ``result`` into ``directory`` atomically; return the final path."""
    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / spool_name(result)
    data = json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=target_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows it
        dir_fd = os.open(target_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return target


def read_spool_file(path: Path) -> CallResult:
    """Parse one spool file; ValueError names the file and what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name}: not valid UTF-8 JSON ({exc})") from None
    except RecursionError:
        # a poison file must be quarantined, not stop every later ingest run
        raise ValueError(f"{path.name}: JSON nested too deeply to read") from None
    try:
        return CallResult.from_json(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from None


@dataclass
class SpoolReport:
    ingested: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    attempt_ids: list[int] = field(default_factory=list)


def pending_files(directory: str | os.PathLike[str]) -> list[Path]:
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file() and p.name.endswith(SUFFIX))


def _quarantine(path: Path, why: str) -> None:
    bad = path.parent / BAD_DIR
    bad.mkdir(exist_ok=True)
    os.replace(path, bad / path.name)
    (bad / (path.name + ".error")).write_text(why + "\n", encoding="utf-8")


def ingest_spool(directory: str | os.PathLike[str], write: ResultWriter) -> SpoolReport:
    """Store every spooled result with ``write`` (one transaction each; blocking: run it in a
    thread, e.g. ``Database.run``). Several processes may share one spool: storing a result
    twice is a duplicate (the writer is idempotent), and a file another took is skipped.

    A database error stops the run and propagates, leaving that file and the rest in place for
    the next run; everything stored before it is already committed and deleted.
    """

    report = SpoolReport()
    for path in pending_files(directory):
        try:
            result = read_spool_file(path)
        except FileNotFoundError:
            continue  # another process sharing the spool took it first
        except ValueError as exc:
            _quarantine(path, str(exc))
            report.bad.append(path.name)
            continue
        try:
            stored = write(result)
        except UnknownAttemptError as exc:
            _quarantine(path, f"{path.name}: {exc}")
            report.bad.append(path.name)
            continue
        path.unlink(missing_ok=True)  # or another process sharing the spool stored it too
        (report.ingested if stored else report.duplicates).append(path.name)
        if stored and result.attempt_id is not None:
            report.attempt_ids.append(result.attempt_id)
    return report
