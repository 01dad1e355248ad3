"""An SMPP 3.4 SMSC simulator: binds, takes submits, sends receipts and citizens' replies.

Built for integrators the way Kannel ships ``fakesmsc``: point pingjing (or any ESME) at it and
watch a realistic campaign happen without a carrier link. What it does, as a carrier would:

* ``bind_transmitter`` / ``bind_receiver`` / ``bind_transceiver`` against configured accounts
  (``ESME_RINVSYSID`` / ``ESME_RINVPASWD`` otherwise), ``enquire_link``, ``unbind``, and
  ``generic_nack`` for anything it does not know or cannot decode;
* ``submit_sm`` → ``submit_sm_resp`` with a fresh message id (decimal, hex, or the common quirk of
  hex in the response and decimal in the receipt); GSM 03.38 / UCS2 text, UDH and SAR
  concatenation reassembled into one message;
* for each part a delivery receipt (``esm_class`` 0x04, ``id:... stat:DELIVRD ...`` text plus the
  ``receipted_message_id`` and ``message_state`` TLVs), UNDELIV for unreachable numbers;
* the recipient's reply, decided by a :class:`~gateway.simulate.citizens.CitizenModel`, as a UCS2
  ``deliver_sm`` from the citizen's number to the address the survey came from (so sub-number
  matching is exercised), long replies as two parts with a UDH.

Deliveries wait in an outbox until a receiver is bound, are retried when the ESME answers with
an error or not at all, and everything received and sent is kept in :attr:`SmscSimulator.received`
and :attr:`SmscSimulator.sent` for the demo's summary. All delays go through the injected clock.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.masking import mask_phone
from gateway.simulate.citizens import CitizenModel, Reaction, SeededCitizens
from gateway.simulate.clock import PendingCalls
from gateway.simulate.seeding import rng_for
from gateway.smpp import codec
from gateway.smpp.encoding import (
    DC_UCS2,
    ESM_UDHI,
    EncodingError,
    decode_text,
    split_text,
    split_udh,
)

# SMPP 3.4 command ids and status codes used here (section 5.1.2 / 5.1.3)
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015

ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RINVESMCLASS = 0x43
ESME_RTHROTTLED = 0x58

ESM_DELIVERY_RECEIPT = 0x04
MESSAGE_STATE_DELIVERED = 2
MESSAGE_STATE_UNDELIVERABLE = 5

MESSAGE_ID_STYLES = ("decimal", "hex", "hex_resp_decimal_receipt")

_BIND_MODES = {
    "bind_transmitter": "transmitter",
    "bind_receiver": "receiver",
    "bind_transceiver": "transceiver",
}


def smpp_time(seconds: float) -> str:
    """``YYMMDDhhmm`` as used in receipt texts, in UTC."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%y%m%d%H%M")


@dataclass
class ReceivedSms:
    """One logical message as the SMSC received it (all its parts, reassembled)."""

    system_id: str
    source_addr: str
    destination_addr: str
    text: str
    data_coding: int
    message_ids: list[str]
    received_at: float
    complete: bool = True
    reaction: Reaction | None = None

    @property
    def parts(self) -> int:
        return len(self.message_ids)


@dataclass
class SentPdu:
    """One ``deliver_sm`` the SMSC has sent or still owes: a receipt or a reply part."""

    kind: str  # "receipt" | "reply"
    system_id: str
    source_addr: str
    destination_addr: str
    text: str
    fields: dict[str, Any]
    message_id: str | None = None  # the receipted id (receipts only)
    state: str | None = None  # DELIVRD / UNDELIV (receipts only)
    intent: str | None = None  # what the citizen meant (replies only)
    part: tuple[int, int] = (1, 1)
    tries: int = 0
    status: str = "queued"  # queued | sent | acked | failed
    acked_at: float | None = None


@dataclass
class _Assembly:
    system_id: str
    source_addr: str
    destination_addr: str
    data_coding: int
    total: int
    first_at: float
    registered_delivery: int
    chunks: dict[int, str] = field(default_factory=dict)
    message_ids: dict[int, str] = field(default_factory=dict)
    timer: IDelayedCall | None = None


@dataclass(frozen=True)
class SmscSettings:
    """What an integrator sets on the command line (see ``pingjing simulate smsc --help``)."""

    accounts: dict[str, str]  # system_id → password
    message_id_style: str = "decimal"
    default_source: str = "10690000"  # reply address when a submit carries no source_addr
    reassembly_timeout: float = 300.0
    deliver_window: int = 10
    deliver_timeout: float = 30.0
    deliver_retry_delay: float = 10.0
    max_deliver_tries: int = 5
    #: submit_sm accepted per connection and (real) second; more get ESME_RTHROTTLED. 0: no cap.
    max_submits_per_second: float = 0.0
    seed: int | str = 1
    #: First message id; None derives it from the seed (reproducible). A simulator restarted
    #: against a database that keeps old ids should start elsewhere (the command uses the time).
    id_base: int | None = None

    def __post_init__(self) -> None:
        if not self.accounts:
            raise ValueError("smsc: at least one account (system_id and password) is required")
        for system_id, password in self.accounts.items():
            if not system_id or len(system_id) > 15:
                raise ValueError(f"smsc account {system_id!r}: system_id must be 1..15 characters")
            if len(password) > 8:
                raise ValueError(f"smsc account {system_id!r}: password is at most 8 characters")
        if self.message_id_style not in MESSAGE_ID_STYLES:
            raise ValueError(
                f"smsc message_id_style {self.message_id_style!r} is not one of "
                + ", ".join(MESSAGE_ID_STYLES)
            )
        if self.deliver_window < 1:
            raise ValueError("smsc deliver_window must be at least 1")
        if self.max_submits_per_second < 0:
            raise ValueError("smsc max_submits_per_second must be 0 (no cap) or positive")


class SmscSimulator:
    """The SMSC's state: accounts, message ids, reassembly, outbox, and what happened.

    One instance serves any number of connections (:meth:`factory`). Protocol instances call
    :meth:`authenticate`, :meth:`submit` and report ``deliver_sm_resp``; the simulator decides,
    through the citizen model, what to send back and when.
    """

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        settings: SmscSettings,
        citizens: CitizenModel | None = None,
        wire_clock: IReactorTime | None = None,
    ) -> None:
        """``clock`` runs the citizens' delays (a demo may compress it); ``wire_clock`` the
        protocol deadline for ``deliver_sm_resp``, which must stay in real time when ``clock``
        is compressed (an ESME acks after its database commit). Default: ``clock``."""
        self.clock = clock
        self.wire_clock = wire_clock or clock
        self.settings = settings
        self.citizens: CitizenModel = citizens or SeededCitizens(seed=settings.seed)
        self.received: list[ReceivedSms] = []
        self.sent: list[SentPdu] = []
        self.on_received: list[Callable[[ReceivedSms], None]] = []
        base = settings.id_base
        if base is None:
            base = rng_for(settings.seed, "message-ids").randrange(10**6, 10**7)
        self._ids = itertools.count(base)
        self._assemblies: dict[tuple[str, str, str, int, int], _Assembly] = {}
        self._outbox: deque[SentPdu] = deque()
        self._sessions: list[SmscProtocol] = []
        self._timers = PendingCalls(self.clock)
        self._messages_to: dict[str, int] = {}
        self._reply_refs = itertools.count(rng_for(settings.seed, "refs").randrange(256))

    # -- wiring ----------------------------------------------------------------------------

    def factory(self) -> Factory:
        return Factory.forProtocol(lambda: SmscProtocol(self))

    def stop(self) -> None:
        """Cancel every pending delay (receipts, replies, retries) and drop the connections."""
        self._timers.cancel_all()
        for session in list(self._sessions):
            session.transport.loseConnection()

    def _later(self, delay: float, fn: Callable[..., None], *args: Any) -> IDelayedCall:
        return self._timers.later(delay, fn, *args)

    # -- sessions --------------------------------------------------------------------------

    def authenticate(self, system_id: str, password: str) -> int:
        if system_id not in self.settings.accounts:
            return ESME_RINVSYSID
        if self.settings.accounts[system_id] != password:
            return ESME_RINVPASWD
        return ESME_ROK

    def attach(self, session: SmscProtocol) -> None:
        self._sessions.append(session)
        self._pump()

    def detach(self, session: SmscProtocol) -> None:
        if session in self._sessions:
            self._sessions.remove(session)
        for item in session.take_outstanding():
            self._retry(item, "connection lost before deliver_sm_resp")

    # -- message ids -----------------------------------------------------------------------

    def _new_id(self) -> tuple[str, str]:
        """(id in submit_sm_resp, id in the receipt) for one part."""
        n = next(self._ids)
        style = self.settings.message_id_style
        if style == "hex":
            return format(n, "X"), format(n, "X")
        if style == "hex_resp_decimal_receipt":
            return format(n, "X"), str(n)
        return str(n), str(n)

    # -- submits ---------------------------------------------------------------------------

    def submit(self, system_id: str, pdu: codec.Pdu) -> tuple[int, str]:
        """Accept one ``submit_sm``; return (command_status, message_id for the response)."""
        destination = pdu.text_field("destination_addr")
        if not destination:
            return ESME_RINVDSTADR, ""
        source = pdu.text_field("source_addr") or self.settings.default_source
        esm_class = int(pdu.get("esm_class", 0))
        data_coding = int(pdu.get("data_coding", 0))
        payload = pdu.get("short_message", b"") or pdu.tlvs.get(codec.TAG_MESSAGE_PAYLOAD, b"")
        if isinstance(payload, str):
            payload = payload.encode("latin-1")
        concat: tuple[int, int, int] | None = None
        if esm_class & ESM_UDHI:
            try:
                payload, udh = split_udh(payload)
            except EncodingError as exc:
                self.log.warn("submit_sm with a bad UDH refused: {why}", why=str(exc))
                return ESME_RINVESMCLASS, ""
            if udh is not None:
                concat = (udh.reference, udh.total, udh.number)
        elif codec.TAG_SAR_MSG_REF_NUM in pdu.tlvs:
            try:
                concat = (
                    int.from_bytes(pdu.tlvs[codec.TAG_SAR_MSG_REF_NUM], "big"),
                    pdu.tlvs[codec.TAG_SAR_TOTAL_SEGMENTS][0],
                    pdu.tlvs[codec.TAG_SAR_SEGMENT_SEQNUM][0],
                )
            except (KeyError, IndexError):
                return ESME_RINVESMCLASS, ""
        text = decode_text(payload, data_coding)
        resp_id, receipt_id = self._new_id()
        registered = int(pdu.get("registered_delivery", 0)) & 0x03
        now = self.clock.seconds()
        if concat is None or concat[1] <= 1:
            self._complete(
                ReceivedSms(system_id, source, destination, text, data_coding, [receipt_id], now),
                registered,
            )
            return ESME_ROK, resp_id
        ref, total, number = concat
        if not 1 <= number <= total:
            return ESME_RINVESMCLASS, ""
        key = (system_id, source, destination, ref, total)
        assembly = self._assemblies.get(key)
        if assembly is None:
            assembly = _Assembly(
                system_id, source, destination, data_coding, total, now, registered
            )
            self._assemblies[key] = assembly
            assembly.timer = self._later(
                self.settings.reassembly_timeout, self._reassembly_expired, key
            )
        assembly.chunks[number] = text
        assembly.message_ids[number] = receipt_id
        if len(assembly.chunks) == total:
            del self._assemblies[key]
            self._timers.cancel(assembly.timer)
            self._complete(self._assembled(assembly, complete=True), registered)
        return ESME_ROK, resp_id

    def _assembled(self, a: _Assembly, complete: bool) -> ReceivedSms:
        numbers = sorted(a.chunks)
        return ReceivedSms(
            a.system_id,
            a.source_addr,
            a.destination_addr,
            "".join(a.chunks[n] for n in numbers),
            a.data_coding,
            [a.message_ids[n] for n in numbers],
            a.first_at,
            complete=complete,
        )

    def _reassembly_expired(self, key: tuple[str, str, str, int, int]) -> None:
        assembly = self._assemblies.pop(key, None)
        if assembly is None:
            return
        self.log.warn(
            "parts {have} of {total} to {dest} never completed; delivering what arrived",
            have=sorted(assembly.chunks),
            total=assembly.total,
            dest=mask_phone(assembly.destination_addr),
        )
        self._complete(
            self._assembled(assembly, complete=False), assembly.registered_delivery, reply=False
        )

    def _complete(self, sms: ReceivedSms, registered: int, reply: bool = True) -> None:
        nth = self._messages_to.get(sms.destination_addr, 0)
        self._messages_to[sms.destination_addr] = nth + 1
        reaction = self.citizens.react(sms.destination_addr, sms.source_addr, sms.text, nth)
        sms.reaction = reaction
        self.received.append(sms)
        self.log.info(
            "received {parts}-part SMS to {dest} from {src}: {outcome}",
            parts=sms.parts,
            dest=mask_phone(sms.destination_addr),
            src=sms.source_addr,
            outcome="delivered" if reaction.delivered else "undeliverable",
        )
        for observer in self.on_received:
            observer(sms)
        if registered == 1 or (registered == 2 and not reaction.delivered):
            self._later(reaction.receipt_delay, self._send_receipts, sms)
        if reply and reaction.delivered and reaction.reply is not None:
            self._later(reaction.reply.delay, self._send_reply, sms)

    # -- deliveries ------------------------------------------------------------------------

    def _send_receipts(self, sms: ReceivedSms) -> None:
        assert sms.reaction is not None
        delivered = sms.reaction.delivered
        stat = "DELIVRD" if delivered else "UNDELIV"
        now = self.clock.seconds()
        sample = "".join(c for c in sms.text[:20] if c.isascii() and c.isprintable())
        for message_id in sms.message_ids:
            text = (
                f"id:{message_id} sub:001 dlvrd:{'001' if delivered else '000'} "
                f"submit date:{smpp_time(sms.received_at)} done date:{smpp_time(now)} "
                f"stat:{stat} err:{'000' if delivered else '001'} text:{sample}"
            )
            fields: dict[str, Any] = {
                "source_addr": sms.destination_addr,
                "destination_addr": sms.source_addr,
                "esm_class": ESM_DELIVERY_RECEIPT,
                "data_coding": 0,
                "short_message": text.encode("ascii"),
                "receipted_message_id": message_id,
                "message_state": (
                    MESSAGE_STATE_DELIVERED if delivered else MESSAGE_STATE_UNDELIVERABLE
                ),
            }
            if not delivered:
                fields["network_error_code"] = b"\x03\x00\x01"  # GSM, error 1
            self._enqueue(
                SentPdu(
                    "receipt",
                    sms.system_id,
                    sms.destination_addr,
                    sms.source_addr,
                    text,
                    fields,
                    message_id=message_id,
                    state=stat,
                )
            )

    def _send_reply(self, sms: ReceivedSms) -> None:
        assert sms.reaction is not None and sms.reaction.reply is not None
        reply = sms.reaction.reply
        chunks = split_text(reply.text, gsm=False)
        ref = next(self._reply_refs) % 256
        for number, chunk in enumerate(chunks, start=1):
            data = chunk.encode("utf-16-be")
            esm_class = 0
            if len(chunks) > 1:
                data = bytes([5, 0x00, 3, ref, len(chunks), number]) + data
                esm_class = ESM_UDHI
            fields = {
                "source_addr_ton": 0,
                "source_addr_npi": 1,
                "source_addr": sms.destination_addr,
                "destination_addr": sms.source_addr,
                "esm_class": esm_class,
                "data_coding": DC_UCS2,
                "short_message": data,
            }
            self._enqueue(
                SentPdu(
                    "reply",
                    sms.system_id,
                    sms.destination_addr,
                    sms.source_addr,
                    chunk,
                    fields,
                    intent=reply.intent,
                    part=(number, len(chunks)),
                )
            )

    def _enqueue(self, item: SentPdu) -> None:
        self.sent.append(item)
        self._outbox.append(item)
        self._pump()

    def _pump(self) -> None:
        """Hand queued deliveries to bound receivers of the right account, within windows."""
        waiting: deque[SentPdu] = deque()
        while self._outbox:
            item = self._outbox.popleft()
            session = self._receiver_for(item.system_id)
            if session is None:
                waiting.append(item)
                continue
            item.tries += 1
            item.status = "sent"
            session.send_deliver(item)
        self._outbox = waiting

    def _receiver_for(self, system_id: str) -> SmscProtocol | None:
        candidates = [
            s for s in self._sessions if s.can_receive and s.system_id == system_id and s.has_room()
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda s: s.outstanding_count())

    def delivered(self, item: SentPdu) -> None:
        item.status = "acked"
        item.acked_at = self.clock.seconds()
        self._pump()

    def _retry(self, item: SentPdu, why: str) -> None:
        if item.tries >= self.settings.max_deliver_tries:
            item.status = "failed"
            self.log.warn(
                "giving up on {kind} to {dest} after {tries} tries: {why}",
                kind=item.kind,
                dest=mask_phone(item.destination_addr),
                tries=item.tries,
                why=why,
            )
            return
        item.status = "queued"
        self._later(self.settings.deliver_retry_delay, self._requeue, item)

    def _requeue(self, item: SentPdu) -> None:
        self._outbox.append(item)
        self._pump()

    def rejected(self, item: SentPdu, why: str) -> None:
        self._retry(item, why)
        self._pump()

    # -- reporting -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for a summary: what came in, what went out, what is still owed."""
        receipts = [s for s in self.sent if s.kind == "receipt"]
        replies = [s for s in self.sent if s.kind == "reply" and s.part[0] == 1]
        intents: dict[str, int] = {}
        for r in replies:
            intents[r.intent or "?"] = intents.get(r.intent or "?", 0) + 1
        return {
            "messages_received": len(self.received),
            "parts_received": sum(m.parts for m in self.received),
            "incomplete": sum(1 for m in self.received if not m.complete),
            "delivered": sum(1 for m in self.received if m.reaction and m.reaction.delivered),
            "undeliverable": sum(
                1 for m in self.received if m.reaction and not m.reaction.delivered
            ),
            "receipts_sent": sum(1 for r in receipts if r.status == "acked"),
            "replies_sent": sum(1 for r in replies if r.status == "acked"),
            "replies_by_intent": intents,
            "deliveries_pending": sum(1 for s in self.sent if s.status in ("queued", "sent")),
            "deliveries_failed": sum(1 for s in self.sent if s.status == "failed"),
        }


class SmscProtocol(Protocol):
    """One ESME connection: framing, bind state, and a window of ``deliver_sm`` awaiting resp.

    States: ``open`` (only binds and enquire_link accepted), ``bound`` (mode transmitter /
    receiver / transceiver), ``closed``. Never calls the reactor itself: deadlines go through
    the simulator's clock.
    """

    log = Logger()

    def __init__(self, simulator: SmscSimulator) -> None:
        self.simulator = simulator
        self.framer = codec.Framer()
        self.state = "open"
        self.mode: str | None = None
        self.system_id = ""
        self._seq = itertools.count(1)
        self._outstanding: dict[int, tuple[SentPdu, IDelayedCall]] = {}
        self._second = -1
        self._submits_this_second = 0

    def _throttled(self) -> bool:
        """A carrier's per-bind rate cap, counted per whole second of real time."""
        cap = self.simulator.settings.max_submits_per_second
        if cap <= 0:
            return False
        second = int(self.simulator.wire_clock.seconds())
        if second != self._second:
            self._second, self._submits_this_second = second, 0
        self._submits_this_second += 1
        return self._submits_this_second > cap

    @property
    def can_receive(self) -> bool:
        return self.state == "bound" and self.mode in ("receiver", "transceiver")

    @property
    def can_submit(self) -> bool:
        return self.state == "bound" and self.mode in ("transmitter", "transceiver")

    def has_room(self) -> bool:
        return len(self._outstanding) < self.simulator.settings.deliver_window

    def outstanding_count(self) -> int:
        return len(self._outstanding)

    def take_outstanding(self) -> list[SentPdu]:
        items = []
        for item, timer in self._outstanding.values():
            if timer.active():
                timer.cancel()
            items.append(item)
        self._outstanding.clear()
        return items

    # -- input -----------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        try:
            frames = self.framer.feed(data)
        except codec.FramingError as exc:
            self.log.warn("closing SMPP connection: {why}", why=str(exc))
            self.transport.loseConnection()
            return
        for frame in frames:
            self._frame(frame)
        if self.framer.broken is not None and self.state != "closed":
            self.log.warn("closing SMPP connection: {why}", why=self.framer.broken)
            self.transport.loseConnection()

    def _frame(self, frame: bytes) -> None:
        try:
            pdu = codec.decode(frame)
        except codec.UnknownCommandError as exc:
            self.log.warn("generic_nack: {why}", why=str(exc))
            self._write(codec.encode_generic_nack(exc.sequence or 0, ESME_RINVCMDID))
            return
        except codec.DecodeError as exc:
            self.log.warn("generic_nack: {why}", why=str(exc))
            self._write(codec.encode_generic_nack(exc.sequence or 0, ESME_RINVCMDLEN))
            return
        handler = getattr(self, "_on_" + pdu.command, None)
        if handler is None:
            if pdu.is_response:
                self.log.warn("ignoring unexpected {cmd}", cmd=pdu.command)
                return
            self.log.info("{cmd} is not supported: generic_nack", cmd=pdu.command)
            self._write(codec.encode_generic_nack(pdu.sequence, ESME_RINVCMDID))
            return
        handler(pdu)

    def _write(self, data: bytes) -> None:
        if self.state != "closed":
            self.transport.write(data)

    def _bind(self, pdu: codec.Pdu) -> None:
        resp = pdu.command + "_resp"
        if self.state != "open":
            self._write(codec.encode(resp, pdu.sequence, status=ESME_RALYBND))
            return
        system_id = pdu.text_field("system_id")
        status = self.simulator.authenticate(system_id, pdu.text_field("password"))
        if status != ESME_ROK:
            self.log.warn(
                "refused {cmd} for system_id {sid!r}: status 0x{status:02X}",
                cmd=pdu.command,
                sid=system_id,
                status=status,
            )
            self._write(codec.encode(resp, pdu.sequence, status=status))
            return
        self.state = "bound"
        self.mode = _BIND_MODES[pdu.command]
        self.system_id = system_id
        self._write(codec.encode(resp, pdu.sequence, system_id="PJSIMSC"))
        self.log.info("{sid} bound as {mode}", sid=system_id, mode=self.mode)
        self.simulator.attach(self)

    _on_bind_transmitter = _bind
    _on_bind_receiver = _bind
    _on_bind_transceiver = _bind

    def _on_enquire_link(self, pdu: codec.Pdu) -> None:
        self._write(codec.encode_header_only(codec.response_id(ENQUIRE_LINK), pdu.sequence))

    def _on_enquire_link_resp(self, pdu: codec.Pdu) -> None:
        pass

    def _on_unbind(self, pdu: codec.Pdu) -> None:
        self._write(codec.encode_header_only(codec.response_id(UNBIND), pdu.sequence))
        self.transport.loseConnection()

    def _on_submit_sm(self, pdu: codec.Pdu) -> None:
        if not self.can_submit:
            self._write(codec.encode("submit_sm_resp", pdu.sequence, status=ESME_RINVBNDSTS))
            return
        if self._throttled():
            self._write(codec.encode("submit_sm_resp", pdu.sequence, status=ESME_RTHROTTLED))
            return
        status, message_id = self.simulator.submit(self.system_id, pdu)
        if status != ESME_ROK:
            self._write(codec.encode("submit_sm_resp", pdu.sequence, status=status))
            return
        self._write(codec.encode("submit_sm_resp", pdu.sequence, message_id=message_id))

    def _on_deliver_sm_resp(self, pdu: codec.Pdu) -> None:
        self._answered(pdu.sequence, pdu.status)

    def _on_generic_nack(self, pdu: codec.Pdu) -> None:
        self._answered(pdu.sequence, pdu.status or ESME_RSYSERR)

    def _answered(self, sequence: int, status: int) -> None:
        entry = self._outstanding.pop(sequence, None)
        if entry is None:
            self.log.warn("response to unknown sequence {seq} ignored", seq=sequence)
            return
        item, timer = entry
        if timer.active():
            timer.cancel()
        if status == ESME_ROK:
            self.simulator.delivered(item)
        else:
            self.simulator.rejected(item, f"deliver_sm_resp status 0x{status:08X}")

    # -- output ----------------------------------------------------------------------------

    def send_deliver(self, item: SentPdu) -> None:
        seq = next(self._seq)
        timer = self.simulator.wire_clock.callLater(
            self.simulator.settings.deliver_timeout, self._deliver_timed_out, seq
        )
        self._outstanding[seq] = (item, timer)
        self._write(codec.encode("deliver_sm", seq, **item.fields))

    def _deliver_timed_out(self, seq: int) -> None:
        entry = self._outstanding.pop(seq, None)
        if entry is not None:
            self.simulator.rejected(entry[0], "no deliver_sm_resp in time")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.state = "closed"
        self.simulator.detach(self)
