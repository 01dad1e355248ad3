"""The ``[ivr]`` configuration section: what the AGI script needs to hold the conversation.

Kept free of Twisted and SQLAlchemy: the AGI script imports it before its first AGI command,
where every millisecond of import time is a millisecond of silence on the line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.prompts import SOUND_SUBDIR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class IvrSettings:
    """``recordings_dir`` must be writable by the Asterisk user (Asterisk writes the file);
    ``spool_dir`` by the AGI script's user (the same user). Empty means under
    ``service.data_dir``. ``prompts`` is the sound name prefix STREAM FILE uses."""

    prompts: str = SOUND_SUBDIR
    recordings_dir: str = ""
    spool_dir: str = ""
    digit_timeout_ms: int = 5000
    max_tries: int = 3
    record_max_ms: int = 60_000
    record_silence_s: int = 5
    record_format: str = "wav"
    #: The evaluation line (issue 18): at most ``inbound_lines`` calls at once; calls in and
    #: out share ``trunk_lines`` channels (0: the trunk is not counted). Lock files in
    #: ``lines_dir`` (empty: ``<data_dir>/lines``), shared by the AGI scripts and the daemon.
    inbound_lines: int = 4
    trunk_lines: int = 0
    lines_dir: str = ""

    def validate(self) -> IvrSettings:
        if self.digit_timeout_ms < 1500:
            # A caller presses about 1.5 s after a prompt ends (asterisk-facts.md).
            raise ValueError("ivr.digit_timeout_ms: must be at least 1500 (callers lose keys)")
        if not 1 <= self.max_tries <= 9:
            raise ValueError("ivr.max_tries: must be between 1 and 9")
        if not 1000 <= self.record_max_ms <= 600_000:
            raise ValueError("ivr.record_max_ms: must be between 1000 and 600000")
        if not 1 <= self.record_silence_s <= 60:
            raise ValueError("ivr.record_silence_s: must be between 1 and 60")
        if self.record_format not in ("wav", "gsm", "ulaw", "alaw", "sln"):
            raise ValueError("ivr.record_format: expected wav, gsm, ulaw, alaw or sln")
        if not 0 <= self.inbound_lines <= 1000 or not 0 <= self.trunk_lines <= 1000:
            raise ValueError("ivr.inbound_lines / ivr.trunk_lines: must be between 0 and 1000")
        return self

    def lines_path(self, data_dir: str | Path) -> Path:
        from pathlib import Path

        return Path(self.lines_dir) if self.lines_dir else Path(data_dir) / "lines"

    def recordings_path(self, data_dir: str | Path) -> Path:
        from pathlib import Path  # lazily: pathlib is slow to import (AGI start-up)

        return Path(self.recordings_dir) if self.recordings_dir else Path(data_dir) / "recordings"

    def spool_path(self, data_dir: str | Path) -> Path:
        from pathlib import Path

        return Path(self.spool_dir) if self.spool_dir else Path(data_dir) / "agi-spool"
