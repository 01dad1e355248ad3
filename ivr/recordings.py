"""What a recording Asterisk left on disk is: size, length and SHA-256, even when cut short.

A hangup during RECORD FILE leaves a partial file; its WAV header may still say 0 frames if
Asterisk had no chance to update it, so the length falls back to the data size.
"""

from __future__ import annotations

import hashlib
import os

from ivr.flow import RecordingInfo

#: Bytes of audio per second for Asterisk's 8 kHz formats, and the header each file starts with.
_RATE = {"wav": (16_000, 44), "sln": (16_000, 0), "ulaw": (8_000, 0), "alaw": (8_000, 0)}
_GSM_BYTES_PER_SECOND = 1650  # 33-byte frames of 20 ms
EXTENSIONS = {"wav": "wav", "sln": "sln", "ulaw": "ulaw", "alaw": "alaw", "gsm": "gsm"}


def recording_file(path: str, fmt: str) -> str:
    """The file RECORD FILE writes for ``path`` (Asterisk appends the format's extension)."""
    return f"{path}.{EXTENSIONS.get(fmt, fmt)}"


def _wav_seconds(fh, size: int) -> float | None:
    fh.seek(0)
    header = fh.read(44)
    if len(header) < 44 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    byte_rate = int.from_bytes(header[28:32], "little")
    data_size = int.from_bytes(header[40:44], "little")
    if byte_rate <= 0:
        return None
    actual = max(size - 44, 0)
    if data_size == 0 or data_size > actual:
        data_size = actual  # header not finalised (cut short): trust the file size
    return round(data_size / byte_rate, 3)


def describe_recording(path: str, partial: bool, fmt: str = "wav") -> RecordingInfo | None:
    """Describe ``path`` (without extension); None when Asterisk wrote no file at all."""
    file = recording_file(path, fmt)
    try:
        fh = open(file, "rb")  # noqa: SIM115 - closed below, after two passes
    except FileNotFoundError:
        return None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        digest = hashlib.sha256()
        for chunk in iter(lambda: fh.read(65536), b""):
            digest.update(chunk)
        if fmt == "wav":
            seconds = _wav_seconds(fh, size)
        elif fmt == "gsm":
            seconds = round(size / _GSM_BYTES_PER_SECOND, 3)
        elif fmt in _RATE:
            rate, header = _RATE[fmt]
            seconds = round(max(size - header, 0) / rate, 3)
        else:
            seconds = None
    return RecordingInfo(
        path=file, seconds=seconds, bytes=size, sha256=digest.hexdigest(), partial=partial
    )
