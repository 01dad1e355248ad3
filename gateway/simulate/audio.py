"""The audio a simulated caller leaves: a short WAV, 8 kHz mono 16-bit like Asterisk's ``wav``.

Not speech, but shaped like it (syllable-long bursts of a gliding tone with pauses) so that a
player, a waveform view or a silence check downstream sees something that is clearly not empty.
"""

from __future__ import annotations

import math
import os
import struct
import wave

RATE = 8000


def voice_like_samples(ms: int, pitch: float = 220.0) -> bytes:
    """``ms`` milliseconds of 16-bit little-endian PCM: 180 ms bursts, 70 ms gaps."""
    n = RATE * max(0, ms) // 1000
    frames = bytearray()
    burst, gap = int(0.18 * RATE), int(0.07 * RATE)
    period = burst + gap
    for i in range(n):
        k = i % period
        if k >= burst:
            frames += b"\x00\x00"
            continue
        envelope = math.sin(math.pi * k / burst)
        freq = pitch * (1.0 + 0.25 * math.sin(2 * math.pi * (i // period) / 5.0))
        value = int(9000 * envelope * math.sin(2 * math.pi * freq * i / RATE))
        frames += struct.pack("<h", value)
    return bytes(frames)


def write_voice_wav(path: str, ms: int) -> bool:
    """Write ``path`` (any extension; the content is WAV). False when the directory is missing
    or not writable, which Asterisk reports to the script as ``(writefile)``."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        return False
    try:
        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(voice_like_samples(ms))
    except OSError:
        return False
    return True
