"""Citizens' replies from ``deliver_sm``: stored once, long ones assembled across processes.

The service hands every reply ``deliver_sm`` here with the link it came on. The store decides,
in one transaction, whether it is a redelivery of a reply stored before (answered ``ESME_ROK``
and not stored again: :mod:`gateway.smpp.redelivery`), a whole reply, or a part of a long
one; the process that holds a long reply's last part assembles it from the parts every
process holds. This process's :class:`~gateway.smpp.reassembly.Reassembler` only times the
expiry of the parts it holds: at expiry the reply is assembled from the database, under the
same lock, and nothing happens if another process has assembled it meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from gateway.masking import mask_phone
from gateway.smpp import codec
from gateway.smpp.acks import AckFlusher
from gateway.smpp.api import InboundSms
from gateway.smpp.assembly import key_of, part_from_pdu
from gateway.smpp.reassembly import InboundPart, Reassembler
from gateway.smpp.redelivery import Arrival, fingerprint
from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import ReplyTaken, Settled, SmsStore

log = Logger(namespace="pingjing.smpp")


class ReplyIntake:
    def __init__(
        self,
        settings: SmppSettings,
        store: SmsStore,
        clock: IReactorTime,
        business_clock: IReactorTime,
        live_links: Callable[[], frozenset[str]],
        notify: Callable[[InboundSms], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.business_clock = business_clock
        self._live_links = live_links
        self._notify = notify
        self._reassembler = Reassembler(clock, settings.reassembly_timeout, self._expired)
        self.acks = AckFlusher(store.mark_acked, self._now, clock)
        self.redeliveries = 0
        self._settle_calls: dict[int, IDelayedCall] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.business_clock.seconds(), UTC)

    def received(self, pdu: codec.Pdu, link: str) -> defer.Deferred[tuple[int, object]]:
        """Store one reply ``deliver_sm``; fires with (ESME_ROK, the proof token) once done."""
        now = self._now()
        part = part_from_pdu(pdu, now)
        arrival = Arrival(
            part.source_addr,
            fingerprint(pdu),
            link,
            self._live_links(),
            now,
            self.settings.redelivery_window,
            self.settings.redelivery_grace_seconds,
        )
        d = self.store.take_reply(part, arrival, self.settings.default_data_coding)
        return d.addCallback(self._taken, part)

    def _taken(self, taken: ReplyTaken, part: InboundPart) -> tuple[int, object]:
        if taken.redelivery_of is not None:
            self._redelivered(part.source_addr, taken.redelivery_of)
        elif taken.unsure_id is not None and taken.settle_at is not None:
            log.info(
                "reply from {sender} repeats one another process took and has not yet proven "
                "answered; kept aside as inbound {id} until {at}",
                sender=mask_phone(part.source_addr),
                id=taken.unsure_id,
                at=taken.settle_at.isoformat(),
            )
            self._settle_later(taken.unsure_id, taken.settle_at)
        elif taken.reply is not None:
            if part.total > 1:
                self._reassembler.discard(key_of(part))
            self._notify(taken.reply)
        elif taken.held_id is not None and self._reassembler.add(
            replace(part, stored_id=taken.held_id)
        ):
            # the store saw every process's parts; the expiry alone is timed here
            self._assemble(key_of(part))
        return (0, taken.delivery_id)

    def _redelivered(self, sender: str, first: int) -> None:
        self.redeliveries += 1
        log.info(
            "reply from {sender} delivered again by the SMSC (our deliver_sm_resp for it was "
            "lost); stored once, as inbound {first}",
            sender=mask_phone(sender),
            first=first,
        )

    def _settle_later(self, inbound_id: int, at: datetime) -> None:
        delay = max(0.0, at.timestamp() - self.business_clock.seconds())
        self._settle_calls[inbound_id] = self.business_clock.callLater(
            delay, self._settle, inbound_id
        )

    def _settle(self, inbound_id: int) -> defer.Deferred[None]:
        self._settle_calls.pop(inbound_id, None)
        d = self.store.settle_unsure(inbound_id)

        def settled(result: Settled | None) -> None:
            if result is None:
                return  # settled by another process's start-up
            if result.reply is not None:
                self._notify(result.reply)
            elif result.redelivery_of is not None:
                self._redelivered(result.source_addr, result.redelivery_of)

        d.addCallback(settled)
        d.addErrback(self._settle_failed, inbound_id)
        return d

    def _settle_failed(self, f, inbound_id: int) -> None:
        log.failure("deciding the reply kept aside as inbound {id} failed; again soon", f,
                    id=inbound_id)  # fmt: skip
        self._settle_calls[inbound_id] = self.business_clock.callLater(
            self.settings.redelivery_grace_seconds, self._settle, inbound_id
        )

    def restore_unsure(self, rows: list[tuple[int, datetime]]) -> None:
        """Replies kept aside by any process that stopped before deciding them."""
        grace = timedelta(seconds=self.settings.redelivery_grace_seconds)
        for inbound_id, received_at in rows:
            if inbound_id not in self._settle_calls:
                self._settle_later(inbound_id, received_at + grace)

    def restore(self, parts: list[InboundPart]) -> None:
        """Parts held when this process stopped: their expiry runs on from when they came."""
        now = self.business_clock.seconds()
        for part in parts:
            age = max(0.0, now - part.received_at.timestamp())
            if self._reassembler.add(part, age=age):
                self._assemble(key_of(part))

    def _expired(self, parts: list[InboundPart]) -> None:
        log.warn(
            "reply from {sender}: {got} of {total} parts arrived here before the expiry; "
            "assembling it from the parts every process holds",
            sender=mask_phone(parts[0].source_addr),
            got=len(parts),
            total=parts[0].total,
        )
        self._assemble(key_of(parts[0]))

    def _assemble(self, key: tuple[str, int, int]) -> None:
        d = self.store.assemble_held(key, self.settings.default_data_coding)
        d.addCallback(lambda reply: reply is not None and self._notify(reply))
        d.addErrback(lambda f: log.failure("assembling a held reply failed; parts kept", f))

    def stop(self) -> None:
        """Cancel the timers (held parts stay in the database and are restored on start)."""
        self._reassembler.stop()
        self.acks.stop()
        for call in self._settle_calls.values():
            if call.active():
                call.cancel()
        self._settle_calls.clear()
