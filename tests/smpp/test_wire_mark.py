"""No submit_sm is written before the store committed its SMS's wire mark (``mark_wired``)."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock

from gateway.smpp.service import SmppService
from gateway.smpp.store import MemorySmsStore
from tests.smpp.scripted_smsc import ScriptedSmsc
from tests.smpp.test_service import BASE, make, outcomes, run, sms


class SlowMarks(MemorySmsStore):
    """Wire marks that commit only when the test says so (or fail)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[int, defer.Deferred[None]]] = []

    def mark_wired(self, outbound_id, at):
        d: defer.Deferred[None] = defer.Deferred()
        self.pending.append((outbound_id, d))
        return d

    def commit(self, n: int | None = None) -> list[int]:
        done, self.pending = self.pending[:n], self.pending[len(self.pending[:n]) :]
        for oid, d in done:
            self.wired[oid] = None
            d.callback(None)
        return [oid for oid, _ in done]


def make_slow():
    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = SlowMarks()
    service = SmppService(BASE, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    return service, smsc, store, clock


def test_every_written_sms_was_marked_first_and_all_are_submitted():
    service, _, store, clock = make()
    results = outcomes([service.submit(sms(i)) for i in range(1, 31)])
    run(clock, 1)
    assert [r.status for r in results] == ["submitted"] * 30
    assert sorted(store.wired) == list(range(1, 31))


def test_nothing_is_written_until_its_mark_commits():
    service, smsc, store, clock = make_slow()
    results = outcomes([service.submit(sms(i)) for i in range(1, 6)])
    run(clock, 0.5)
    assert smsc.submits == []  # marks asked, none committed
    assert [oid for oid, _ in store.pending] == [1, 2, 3, 4, 5]
    store.commit(2)
    run(clock, 0.5)
    assert len(smsc.submits) == 2
    store.commit()
    run(clock, 0.5)
    assert len(smsc.submits) == 5
    assert [r.status for r in results] == ["submitted"] * 5


def test_marks_only_while_a_bind_can_transmit():
    """While unbound the queue is not marked: an SMS waiting for the link stays resendable."""
    clock = Clock()
    store = SlowMarks()
    smsc = ScriptedSmsc(clock)
    service = SmppService(BASE, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.submit(sms(1))
    assert store.pending == []
    service.startService()
    clock.advance(0.02)
    assert [oid for oid, _ in store.pending] == [1]


def test_a_failed_mark_is_retried_and_the_sms_waits():
    service, smsc, store, clock = make_slow()
    results = outcomes([service.submit(sms(1))])
    [(_, d)] = store.pending
    store.pending = []
    d.errback(RuntimeError("database restarting"))
    run(clock, 0.5)
    assert smsc.submits == [] and store.pending == []
    run(clock, 1)
    assert [o for o, _ in store.pending] == [1]  # asked again
    store.commit()
    run(clock, 0.5)
    assert len(smsc.submits) == 1
    assert results[0].status == "submitted"


def test_an_outcome_is_stored_once_the_database_is_back_however_long_it_took():
    """The SMSC answered; storing that fails for two minutes (a database restart): the
    outcome is retried with a capped backoff until it commits, never dropped."""

    class Down(MemorySmsStore):
        failing = True

        def record_submission(self, outcome, parts):
            if self.failing:
                return defer.fail(RuntimeError("database restarting"))
            return super().record_submission(outcome, parts)

    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = Down()
    service = SmppService(BASE, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    results = outcomes([service.submit(sms(1))])
    run(clock, 120, step=1)
    assert results == [] and store.outcomes == []
    store.failing = False
    run(clock, 31, step=1)
    assert [r.status for r in results] == ["submitted"]
    assert store.outbound_status[1] == "submitted"


def test_marks_run_at_most_wire_mark_ahead_before_the_writes():
    from dataclasses import replace

    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = SlowMarks()
    settings = replace(BASE, wire_mark_ahead=3)
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    results = outcomes([service.submit(sms(i)) for i in range(1, 8)])
    assert [oid for oid, _ in store.pending] == [1, 2, 3]
    assert store.commit() == [1, 2, 3]
    run(clock, 0.5)  # written: three more may be marked
    assert [oid for oid, _ in store.pending] == [4, 5, 6]
    store.commit()
    run(clock, 0.5)
    store.commit()
    run(clock, 0.5)
    assert [r.status for r in results] == ["submitted"] * 7
    assert len(smsc.submits) == 7
