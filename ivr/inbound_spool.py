"""The evaluation line's spool: a call's result as a JSON file when the database is down.

The same rules as the callback's spool (:mod:`ivr.spool`): written atomically into
``<spool_dir>/inbound/``, ingested by the daemon one transaction per file and deleted only
after the commit; a file that can never be stored goes to ``bad/`` with a ``.error`` beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ivr.inbound_flow import InboundResult
from ivr.spool import SpoolReport, _quarantine, pending_files

SUBDIR = "inbound"


def line_spool_dir(spool_dir: str | os.PathLike[str]) -> Path:
    return Path(spool_dir) / SUBDIR


def write_line_spool(spool_dir: str | os.PathLike[str], result: InboundResult) -> Path:
    """Write ``result`` atomically under ``<spool_dir>/inbound/``; return its path."""
    directory = line_spool_dir(spool_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.channel_id or "x")
    target = directory / f"line-{name}.json"
    data = json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
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
    return target


def ingest_line_spool(
    spool_dir: str | os.PathLike[str], write: Callable[[InboundResult], bool]
) -> SpoolReport:
    """Store every spooled call with ``write`` (True: stored, False: a duplicate). A database
    error propagates and leaves the file for the next run."""
    report = SpoolReport()
    for path in pending_files(line_spool_dir(spool_dir)):
        try:
            result = InboundResult.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, RecursionError) as exc:
            _quarantine(path, f"{path.name}: {exc}")
            report.bad.append(path.name)
            continue
        stored = write(result)
        path.unlink()
        (report.ingested if stored else report.duplicates).append(path.name)
    return report
