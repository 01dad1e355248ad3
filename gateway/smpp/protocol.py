"""The thin Twisted protocol: bytes in → session, session's bytes → transport. Nothing else."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from gateway.smpp.session import SmppSession

# make_session(write, disconnect) -> SmppSession
SessionMaker = Callable[[Callable[[bytes], None], Callable[[str], None]], SmppSession]


class SmppClientProtocol(Protocol):
    session: SmppSession | None = None

    def __init__(self, make_session: SessionMaker) -> None:
        self._make_session = make_session

    def connectionMade(self) -> None:
        # Small PDUs under Nagle wait for the SMSC's delayed ACK (40 ms on Linux): with a
        # window of 50 that caps a bind near 1,100 PDU/s however fast both ends are.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        self.session = self._make_session(self.transport.write, self._disconnect)
        self.session.connection_made()

    def dataReceived(self, data: bytes) -> None:
        if self.session is not None:
            self.session.data_received(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.session is not None:
            why = reason.getErrorMessage() if reason is not None else "connection lost"
            self.session.connection_lost(self.session.close_reason or why)

    def _disconnect(self, reason: str) -> None:
        # abort, not lose: an SMSC that stopped answering may also stop reading, and a
        # half-closed link would keep the window hostage.
        abort = getattr(self.transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            self.transport.loseConnection()


class SmppClientFactory(Factory):
    noisy = False  # "Starting factory" at every reconnect is noise; the link logs its changes

    def __init__(self, make_session: SessionMaker) -> None:
        self._make_session = make_session

    def buildProtocol(self, addr: object) -> SmppClientProtocol:
        return SmppClientProtocol(self._make_session)
