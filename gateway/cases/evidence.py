"""Evidence files on disk: stored once by content hash (``<dir>/ab/cd/<sha256>``), written to a
temporary name and renamed, so a crash leaves no half file under the final name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def evidence_path(directory: str | Path, digest: str) -> Path:
    return Path(directory) / digest[:2] / digest[2:4] / digest


def store_file(directory: str | Path, data: bytes) -> str:
    """Store ``data`` (if not there already); returns its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    target = evidence_path(directory, digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{digest}.{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, target)
    return digest
