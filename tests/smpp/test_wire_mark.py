"""No submit_sm is written before the store committed its SMS's wire mark (``mark_wired``)."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock

from gateway.smpp.api import OutboundSms
from gateway.smpp.service import SmppService
from gateway.smpp.store import MemorySmsStore
from tests.smpp.scripted_smsc import ScriptedSmsc
from tests.smpp.test_service import BASE, make, outcomes, run, sms


class SlowMarks(MemorySmsStore):
    """Wire marks that commit only when the test says so (or fail), a batch at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[list[int], defer.Deferred[None]]] = []

    @property
    def pending(self) -> list[int]:
        return [oid for oids, _ in self.batches for oid in oids]

    def mark_wired(self, outbound_ids, at):
        d: defer.Deferred[None] = defer.Deferred()
        self.batches.append((list(outbound_ids), d))
        return d

    def commit(self, n: int | None = None) -> list[int]:
        """Commit the first ``n`` batches (all by default); the ids committed."""
        done, self.batches = self.batches[:n], self.batches[len(self.batches[:n]) :]
        for oids, d in done:
            for oid in oids:
                self.wired[oid] = None
            d.callback(None)
        return [oid for oids, _ in done for oid in oids]


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
    results = outcomes([service.submit(sms(i)) for i in range(1, 4)])
    run(clock, 0.5)
    assert smsc.submits == []  # marks asked, none committed
    assert store.batches[0][0] == [1, 2, 3]  # the SMS of one reactor turn: one batch
    outcomes([service.submit(sms(i)) for i in range(4, 6)])
    run(clock, 0.5)
    assert store.pending == [1, 2, 3, 4, 5] and len(store.batches) == 2
    store.commit(1)
    run(clock, 0.5)
    assert len(smsc.submits) == 3
    store.commit()
    run(clock, 0.5)
    assert len(smsc.submits) == 5
    assert [r.status for r in results] == ["submitted"] * 3


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
    assert store.pending == [1]


def test_a_failed_mark_is_retried_and_the_sms_waits():
    service, smsc, store, clock = make_slow()
    results = outcomes([service.submit(sms(1))])
    clock.advance(0)
    [(_, d)] = store.batches
    store.batches = []
    d.errback(RuntimeError("database restarting"))
    run(clock, 0.5)
    assert smsc.submits == [] and store.pending == []
    run(clock, 1)
    assert store.pending == [1]  # asked again
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
    settings = replace(BASE, wire_mark_ahead=3, wire_mark_ahead_max=3)
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    results = outcomes([service.submit(sms(i)) for i in range(1, 8)])
    clock.advance(0)
    assert store.pending == [1, 2, 3]
    assert store.commit() == [1, 2, 3]
    run(clock, 0.5)  # written: three more may be marked
    assert store.pending == [4, 5, 6]
    store.commit()
    run(clock, 0.5)
    store.commit()
    run(clock, 0.5)
    assert [r.status for r in results] == ["submitted"] * 7
    assert len(smsc.submits) == 7


def test_marks_are_asked_in_batches_once_a_quarter_of_the_allowance_is_free():
    """Not one mark transaction per SMS written: the next batch is asked once a quarter of
    ``wire_mark_ahead`` is written (or when the next SMS to write waits for its mark)."""
    from dataclasses import replace

    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = SlowMarks()
    settings = replace(BASE, wire_mark_ahead=8, window=1)
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    results = outcomes([service.submit(sms(i)) for i in range(1, 13)])
    clock.advance(0)
    assert store.commit() == list(range(1, 9))
    run(clock, 0.5)
    # written one by one (window 1): the next marks asked once half is free, together
    assert store.batches and len(store.batches[0][0]) >= 2
    while store.batches:
        store.commit()
        run(clock, 0.5)
    assert [r.status for r in results] == ["submitted"] * 12
    assert sorted(store.wired) == list(range(1, 13))


def _claimed(i: int) -> OutboundSms:
    return OutboundSms(i, "13812345678", "您好，请评价", wired=True)


def test_a_claim_marks_in_reserved_slots_and_its_sms_need_no_mark_transaction():
    from dataclasses import replace

    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = SlowMarks()
    settings = replace(BASE, wire_mark_ahead=3)
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    assert service.reserve_wire_marks(5) == 0  # unbound: nothing may be marked
    service.startService()
    clock.advance(0.02)
    assert service.reserve_wire_marks(5) == 3  # the allowance bounds the claim's marks too
    assert service.reserve_wire_marks(1) == 0
    service.release_wire_marks(1)  # the claim found two SMS
    results = outcomes([service.submit(_claimed(i)) for i in (1, 2)])
    later = [service.submit(sms(3))]  # claimed beyond the reservation
    run(clock, 0.5)
    assert len(smsc.submits) == 2 and store.pending == [3]  # 1 and 2 written at once
    later += [service.submit(sms(i)) for i in (4, 5)]
    later = outcomes(later)
    assert service.reserve_wire_marks(5) == 0  # SMS wait for their marks: they come first
    while store.batches:
        store.commit()
        run(clock, 0.5)
    assert service.reserve_wire_marks(5) == 3
    service.release_wire_marks(3)
    run(clock, 0.5)
    run(clock, 0.5)
    assert [r.status for r in results + later] == ["submitted"] * 5
    assert service.marks.ahead == 0 and service.marks.reserved == 0


def test_a_claim_marked_sms_not_written_is_released_at_a_graceful_stop():
    from dataclasses import replace

    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = SlowMarks()
    settings = replace(BASE, wire_mark_ahead=20, window=1, stop_timeout=1.0)
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    smsc.latency = 100  # nothing answered before the stop's deadline
    assert service.reserve_wire_marks(3) == 3
    results = outcomes([service.submit(_claimed(i)) for i in (1, 2, 3)])
    run(clock, 0.1)
    assert len(smsc.submits) == 1  # the window holds the others back
    service.stopService()
    run(clock, 2)  # the stop's deadline passed: what was not written is given back
    assert sorted(store.released) == [2, 3]  # marked by their claim, never written: queued
    assert sorted(r.outbound_id for r in results if r.status == "released") == [2, 3]


def test_no_mark_is_asked_once_the_bind_went_before_the_batch_was_sent():
    """Marks are gathered until the end of the reactor turn: if the bind went meanwhile,
    none is asked (the next bind pumps again)."""
    from types import SimpleNamespace

    from gateway.smpp.wire_marks import WireMarks

    clock = Clock()
    store = SlowMarks()
    bound = [True]
    marks = WireMarks(10, store, clock, lambda: None, lambda: None, lambda: bound[0])
    msg = SimpleNamespace(
        sms=sms(1), wired=False, marking=False, written=False, finished=False, failed_error=None
    )
    marks.add(msg)
    marks.mark_ahead(blocked=True)
    bound[0] = False
    clock.advance(0)
    assert store.pending == [] and list(marks.unmarked) == [msg]
    bound[0] = True
    marks.mark_ahead(blocked=True)
    clock.advance(0)
    assert store.pending == [1] and msg.marking


def _fast_link(ahead: int, most: int):
    from dataclasses import replace

    clock = Clock()
    smsc = ScriptedSmsc(clock)
    store = SlowMarks()
    settings = replace(BASE, wire_mark_ahead=ahead, wire_mark_ahead_max=most, window=50)
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    return service, smsc, store, clock


def test_the_reach_doubles_when_the_writes_wait_for_marks_with_more_sms_waiting():
    """The link writes faster than marks commit: with more SMS waiting than the reach lets be
    marked, each wait for a commit doubles the reach (once per commit), up to the most."""
    service, smsc, store, clock = _fast_link(4, 16)
    results = outcomes([service.submit(sms(i)) for i in range(1, 61)])
    clock.advance(0)
    assert store.pending == [1, 2, 3, 4]
    sizes = []
    while store.batches:
        sizes.append(len(store.commit(1)))
        run(clock, 0.01)
        assert service.marks.ahead <= service.marks.allowance
    assert sizes == [4, 8, 16, 16, 16]  # every batch a reach; the reach at most 16
    assert service.marks.allowance == 16 and service.marks.counts["grown"] == 2
    run(clock, 1)
    assert [r.status for r in results] == ["submitted"] * 60
    assert len(smsc.submits) == 60


def test_the_reach_does_not_grow_for_an_sms_that_only_waits_for_its_commit():
    """A few SMS at a time (a carrier's rate cap, a quiet day): each waits for its own mark's
    commit, and every one of them fits in the reach, so the reach stays."""
    service, smsc, store, clock = _fast_link(4, 16)
    for i in range(1, 31, 3):
        outcomes([service.submit(sms(j)) for j in range(i, i + 3)])
        clock.advance(0)
        store.commit()
        run(clock, 0.1)
    assert len(smsc.submits) == 30
    assert service.marks.allowance == 4 and service.marks.counts["grown"] == 0


def test_a_grown_reach_halves_back_once_the_writes_no_longer_wait():
    service, smsc, store, clock = _fast_link(4, 16)
    outcomes([service.submit(sms(i)) for i in range(1, 41)])
    clock.advance(0)
    while store.batches:
        store.commit(1)
        run(clock, 0.01)
    assert service.marks.allowance == 16
    run(clock, 1)
    # then SMS one by one, each marked and written before the next: 8 reaches written
    # without a wait the reach was too short for halve it, down to wire_mark_ahead
    for i in range(41, 41 + 8 * 16 + 8 * 8 + 4):
        outcomes([service.submit(sms(i))])
        clock.advance(0)
        store.commit()
        run(clock, 0.01)
    assert service.marks.allowance == 4 and service.marks.counts["shrunk"] == 2
    assert service.marks.ahead <= service.marks.allowance
    assert len(smsc.submits) == 40 + 8 * 16 + 8 * 8 + 4
