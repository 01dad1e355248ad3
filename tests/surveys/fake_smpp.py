"""A fake of the SMPP service contract (``gateway.smpp.api``): submit, observers, availability."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from gateway.smpp.api import InboundSms, OutboundSms, ReceiptUpdate, SubmitOutcome


class FakeSmppService:
    """Records submits; answers them at once (``auto``) or when the test says so."""

    def __init__(self, *, auto: str | None = "submitted", available: bool = True) -> None:
        self.auto = auto
        self.available = available
        self.submitted: list[OutboundSms] = []
        self.waiting: dict[int, defer.Deferred[SubmitOutcome]] = {}
        self.answer_observers: dict[int, Any] = {}
        self.unstored: dict[int, tuple[defer.Deferred[SubmitOutcome], SubmitOutcome]] = {}
        self._reply: list[Any] = []
        self._receipt: list[Any] = []
        self._availability: list[Any] = []

    def submit(self, sms: OutboundSms, on_answered: Any = None) -> defer.Deferred[SubmitOutcome]:
        self.submitted.append(sms)
        if self.auto is not None:
            outcome = SubmitOutcome(sms.outbound_id, self.auto, (f"m{sms.outbound_id}",), 1, None)
            if on_answered is not None:
                on_answered(outcome)
            return defer.succeed(outcome)
        d: defer.Deferred[SubmitOutcome] = defer.Deferred()
        self.waiting[sms.outbound_id] = d
        if on_answered is not None:
            self.answer_observers[sms.outbound_id] = on_answered
        return d

    def answer(
        self,
        outbound_id: int,
        status: str = "submitted",
        error: str | None = None,
        *,
        stored: bool = True,
    ) -> None:
        """The SMSC answers; with ``stored=False`` the store has not committed it yet
        (``on_answered`` is told, the Deferred waits for ``commit``)."""
        outcome = SubmitOutcome(outbound_id, status, (f"m{outbound_id}",), 1, error)
        observer = self.answer_observers.pop(outbound_id, None)
        if observer is not None:
            observer(outcome)
        d = self.waiting.pop(outbound_id)
        if stored:
            d.callback(outcome)
        else:
            self.unstored[outbound_id] = (d, outcome)

    def commit(self, outbound_id: int) -> None:
        d, outcome = self.unstored.pop(outbound_id)
        d.callback(outcome)

    def add_reply_observer(self, fn: Any) -> None:
        self._reply.append(fn)

    def add_receipt_observer(self, fn: Any) -> None:
        self._receipt.append(fn)

    def add_availability_observer(self, fn: Any) -> None:
        self._availability.append(fn)
        fn(self.available)

    def set_available(self, available: bool) -> None:
        self.available = available
        for fn in self._availability:
            fn(available)

    def deliver_reply(self, inbound: InboundSms) -> list[Any]:
        return [fn(inbound) for fn in self._reply]

    def deliver_receipt(self, update: ReceiptUpdate) -> list[Any]:
        return [fn(update) for fn in self._receipt]
