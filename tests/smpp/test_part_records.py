"""One part record per submit_sm attempt: the service never hands the store two records with
the same (outbound id, part number, attempt), the key ``sms_parts`` refuses twice.

The fault run hit that unique violation at a graceful stop: a part given up on an attempt
that already had a record (a retryable answer, no response) was written down a second time
with the same attempt number. These scenarios each produced such a pair before the fix.
"""

from __future__ import annotations

import pytest
from twisted.internet import defer

from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import MemorySmsStore
from tests.smpp.test_service import BASE, outcomes, run, sms


class DuplicatePartError(Exception):
    pass


class UniquePartsStore(MemorySmsStore):
    """``sms_parts``' unique key, enforced as the table does."""

    def record_submission(self, outcome, parts):
        keys = [(p.outbound_id, p.part_number, p.attempt) for p in parts]
        stored = {
            (p.result.outbound_id, p.result.part_number, p.result.attempt)
            for p in self.parts.values()
        }
        if len(set(keys)) < len(keys) or stored & set(keys):
            return defer.fail(DuplicatePartError(keys))
        return super().record_submission(outcome, parts)


def make(settings, **smsc_kwargs):
    from twisted.internet.task import Clock

    from gateway.smpp.service import SmppService
    from tests.smpp.scripted_smsc import ScriptedSmsc

    clock = Clock()
    smsc = ScriptedSmsc(clock, **smsc_kwargs)
    store = UniquePartsStore()
    service = SmppService(settings, store, clock=clock, endpoint_factory=smsc.endpoint)
    service.startService()
    clock.advance(0.02)
    return service, store, clock


def settings(**changes) -> SmppSettings:
    return SmppSettings(**{**BASE.__dict__, **changes})


def silent(n, pdu):
    return None


def rsyserr_once(n, pdu):
    return 0x08 if n == 1 else None


SCENARIOS = {
    # no response, not resent: the "unacked" attempt, then "unknown" on that same attempt
    "unanswered, mark_unknown": (settings(unacked_policy="mark_unknown"), silent, False, "unknown"),
    "unanswered twice, resend_once": (settings(), silent, False, "unknown"),
    # throttled on every try: the last "retry" answer, then "failed" on that same attempt
    "throttled until the tries run out": (
        settings(max_submit_tries=3, throttle_backoff=0.5),
        lambda n, pdu: 0x58,
        False,
        "failed",
    ),
    # answered ESME_RSYSERR, stopped before the resend: the stop resolved the part on attempt 1
    # again (a fresh job whose attempt counted from zero)
    "retry pending when the stop ends": (
        settings(throttle_backoff=5, stop_timeout=1),
        rsyserr_once,
        True,
        "unknown",
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_attempt_is_recorded_once(name):
    config, status_for, stop, final = SCENARIOS[name]
    service, store, clock = make(config, status_for=status_for)
    results = outcomes([service.submit(sms(1))])
    run(clock, 0.2)
    if stop:
        service.stopService()
    run(clock, 40, step=0.05)
    assert [r.status for r in results] == [final]  # stored: no DuplicatePartError retry loop
    keys = [(p.result.part_number, p.result.attempt) for p in store.parts.values()]
    assert len(keys) == len(set(keys))
    last = max(store.parts.values(), key=lambda p: p.result.attempt).result
    assert last.status == final
    assert last.sequence_number is not None  # the wire details of that attempt are kept
