"""A TCP proxy on 127.0.0.1 that injects faults between pingjing and a peer.

Runs its own asyncio loop in a thread; the fault scheduler calls it from another. Faults:

- ``cut(seconds)``: every connection is dropped at once (mid-window for SMPP) and new ones are
  refused (accepted and closed) until ``seconds`` have passed;
- ``silence(seconds)``: bytes from the peer are held back (the peer goes silent: no responses,
  no enquire_link_resp) and released afterwards if the connection is still there;
- ``throttle(seconds)`` (SMPP only): every submit_sm is answered by the proxy itself with
  ``ESME_RTHROTTLED`` and never reaches the SMSC, as a throttling SMSC answers.

Counts what it did (``stats``) for the run's report.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import time
from collections import Counter

SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
ESME_RTHROTTLED = 0x58


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, *, smpp: bool = False) -> None:
        self.target = (target_host, target_port)
        self.smpp = smpp
        self.port = 0
        self.stats: Counter[str] = Counter()
        self._refuse_until = 0.0
        self._silent_until = 0.0
        self._throttle_until = 0.0
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-proxy")

    # -- control (any thread) ----------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self, seconds: float = 0.0) -> None:
        self.stats["cut"] += 1
        self._refuse_until = time.monotonic() + seconds
        self._loop.call_soon_threadsafe(self._drop_all)

    def silence(self, seconds: float) -> None:
        self.stats["silence"] += 1
        self._silent_until = time.monotonic() + seconds

    def throttle(self, seconds: float) -> None:
        self.stats["throttle"] += 1
        self._throttle_until = time.monotonic() + seconds

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def _drop_all(self) -> None:
        for client, upstream in list(self._conns):
            for w in (client, upstream):
                with contextlib.suppress(Exception):
                    w.transport.abort()
        self._conns.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._refuse_until:
            self.stats["refused"] += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.stats["upstream_refused"] += 1
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._conns.add(pair)
        self.stats["connections"] += 1
        try:
            await asyncio.gather(
                self._client_to_peer(reader, up_writer, writer),
                self._peer_to_client(up_reader, writer),
            )
        except Exception:
            pass
        finally:
            self._conns.discard(pair)
            for w in pair:
                w.transport.abort()

    async def _client_to_peer(
        self,
        reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
    ) -> None:
        if not self.smpp:
            while data := await reader.read(65536):
                upstream.write(data)
            raise ConnectionError("client closed")
        while True:
            header = await reader.readexactly(16)
            length, command, _, sequence = struct.unpack(">IIII", header)
            body = await reader.readexactly(max(0, length - 16))
            if command == SUBMIT_SM and time.monotonic() < self._throttle_until:
                self.stats["throttled_submits"] += 1
                client.write(
                    struct.pack(">IIII", 17, SUBMIT_SM_RESP, ESME_RTHROTTLED, sequence) + b"\0"
                )
                continue
            upstream.write(header + body)

    async def _peer_to_client(
        self, reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        held: list[bytes] = []
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout=0.2)
            except TimeoutError:
                data = None
            else:
                if not data:
                    raise ConnectionError("peer closed")
            if time.monotonic() < self._silent_until:
                if data:
                    held.append(data)
                    self.stats["held_bytes"] += len(data)
                continue
            if held:
                client.write(b"".join(held))
                held.clear()
            if data:
                client.write(data)
