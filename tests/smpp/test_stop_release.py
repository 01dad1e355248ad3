"""A graceful stop gives the SMS it never wrote back to the outbox, and settles the rest."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher

from gateway.smpp.api import RELEASED
from gateway.smpp.service import SmppService
from gateway.smpp.settings import SmppSettings
from gateway.smpp.stopping import PARTLY_SENT
from gateway.smpp.store import MemorySmsStore
from tests.smpp.scripted_smsc import ScriptedSmsc
from tests.smpp.test_service import BASE, outcomes, run, sms

SETTINGS = SmppSettings(
    **{
        **BASE.__dict__,
        "window": 2,
        "response_timeout": 30,
        "stop_timeout": 1,
        "unacked_policy": "mark_unknown",
    }
)
LONG = "好" * 100  # two parts


def make(store=None, settings=SETTINGS):
    clock = Clock()
    # only the first submit_sm is answered: the next two fill the window and stay there
    smsc = ScriptedSmsc(clock, status_for=lambda n, pdu: 0 if n == 1 else None)
    store = store or MemorySmsStore()
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    return service, smsc, store, clock


def stop_with_one_of_each(store=None):
    """SMS 1 done, 2 in flight, 3 (two parts) its first part in flight and its second
    queued, 4 and 5 queued: none of them written."""
    service, smsc, store, clock = make(store)
    answered = []
    results = outcomes(
        [
            service.submit(sms(1), on_answered=answered.append),
            service.submit(sms(2), on_answered=answered.append),
            service.submit(sms(3, LONG), on_answered=answered.append),
            service.submit(sms(4, to="13900000004"), on_answered=answered.append),
            service.submit(sms(5, to="13900000005"), on_answered=answered.append),
        ]
    )
    run(clock, 0.5)
    assert len(smsc.submits) == 3  # 1, 2 and the first part of 3
    lines = []
    globalLogPublisher.addObserver(lines.append)
    try:
        stopped = service.stopService()
        run(clock, 3)
    finally:
        globalLogPublisher.removeObserver(lines.append)
    assert stopped.called
    return smsc, store, results, answered, "\n".join(formatEvent(e) for e in lines)


def test_each_sms_ends_as_its_wire_says():
    smsc, _, results, answered, _ = stop_with_one_of_each()
    by_id = {r.outbound_id: r for r in results}
    assert {i: r.status for i, r in by_id.items()} == {
        1: "submitted",
        2: "unknown",  # written, never answered: may have gone
        3: "unknown",  # part 1 may have gone: not sent again whole
        4: RELEASED,
        5: RELEASED,
    }
    assert len(smsc.submits) == 3  # nothing more was written while stopping
    assert sorted(o.outbound_id for o in answered) == [1, 2, 3, 4, 5]  # each told once


def test_the_never_written_go_back_to_the_outbox_unmarked_with_no_part_rows():
    _, store, _, _, _ = stop_with_one_of_each()
    assert store.released == [4, 5]
    assert (store.outbound_status[4], store.outbound_status[5]) == ("queued", "queued")
    assert 4 not in store.wired and 5 not in store.wired  # marked ahead, then cleared
    assert {p.result.outbound_id for p in store.parts.values()} == {1, 2, 3}
    assert [o.outbound_id for o in store.outcomes] == [1, 2, 3]  # no fate written for 4, 5


def test_a_part_never_written_of_an_sms_partly_sent_stays_unknown():
    _, store, _, _, _ = stop_with_one_of_each()
    rows = sorted(
        (p.result.part_number, p.result.attempt, p.result.status, p.result.error)
        for p in store.parts.values()
        if p.result.outbound_id == 3
    )
    assert rows == [
        (1, 1, "unknown", "no response from the SMSC"),  # the link went with it
        (2, 1, "unknown", PARTLY_SENT),
    ]


def test_the_release_is_logged_as_a_count_without_phone_numbers():
    _, _, _, _, text = stop_with_one_of_each()
    assert "2 SMS never written to the SMSC went back to the outbox" in text
    assert "13900000004" not in text and "0000004" not in text


def test_a_failed_release_still_gives_every_sms_one_outcome():
    """The database is away at the stop: the claims stay; start-up recovery settles them."""

    class Down(MemorySmsStore):
        def release_unsent(self, outbound_ids, at):
            self.fail_next = RuntimeError("database down")
            return super().release_unsent(outbound_ids, at)

    store = Down()
    _, store, results, _, text = stop_with_one_of_each(store)
    assert sorted(r.outbound_id for r in results if r.status == RELEASED) == [4, 5]
    assert store.released == []
    assert "could not be put back in the outbox" in text


def test_a_store_without_an_outbox_fails_them_as_before():
    class NoOutbox(MemorySmsStore):
        release_unsent = None

    _, _, results, _, _ = stop_with_one_of_each(NoOutbox())
    by_id = {r.outbound_id: r for r in results}
    assert (by_id[4].status, by_id[4].error) == ("failed", "not sent: the SMPP service stopped")


def test_an_sms_submitted_while_stopping_goes_back_to_the_outbox():
    """Claimed by the pipeline just before the stop began: never written, so released."""
    service, smsc, store, clock = make()
    stopped = service.stopService()
    late = outcomes([service.submit(sms(9))])
    run(clock, 2)
    assert stopped.called
    assert [(r.outbound_id, r.status) for r in late] == [(9, RELEASED)]
    assert store.released == [9] and smsc.submits == []
