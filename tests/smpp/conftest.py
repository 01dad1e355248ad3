"""The node-smpp peer (a third-party SMSC) as a fixture: a subprocess on a random port.

Skipped without Node.js or without ``make peer`` having installed node-smpp; failed instead
under ``PINGJING_REQUIRE_SERVICES=1`` (see tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable

PEER_DIR = Path(__file__).resolve().parents[1] / "smpp_peer"


class Peer:
    """A running peer: its port and the JSON events it printed."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def of(self, event: str) -> list[dict]:
        return [e for e in list(self.events) if e.get("event") == event]

    def command(self, **command: object) -> None:
        """Send a command (a peer started with ``--control``)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command, ensure_ascii=False) + "\n")
        self.process.stdin.flush()


def start_peer(*extra: str) -> Peer:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js (for the node-smpp peer)", "apt-get install nodejs npm && make peer")
    if not (PEER_DIR / "node_modules" / "smpp").is_dir():
        unavailable("node-smpp in tests/smpp_peer/node_modules", "make peer")
    process = subprocess.Popen(
        [node, str(PEER_DIR / "peer.js"), "--port", "0", *extra],
        stdin=subprocess.PIPE if "--control" in extra else None,  # commands (see peer.js)
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("LISTENING "):
        process.kill()
        err = process.stderr.read() if process.stderr else ""
        pytest.fail(f"node-smpp peer did not start: {first!r} {err}")
    return Peer(process, int(first.split()[1]))


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = start_peer()
    try:
        yield p
    finally:
        p.process.terminate()
        try:
            p.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.process.kill()
