"""Scenarios against the third-party SMSC (node-smpp), over real 127.0.0.1 sockets.

Each test waits on Deferreds (outcomes, observers) with a bound, never sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from gateway.smpp.api import OutboundSms
from gateway.smpp.service import SmppService
from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import MemorySmsStore

pytestmark = pytest.mark.node

TIMEOUT = 20.0


def settings_for(peer, mode: str, **overrides) -> SmppSettings:
    values = dict(
        port=peer.port,
        system_id=mode,
        password="secret",
        source_addr="10690",
        window=10,
        response_timeout=2.0,
        reconnect_initial=0.1,
        reconnect_max=1.0,
        enquire_link_interval=30,
    )
    values.update(overrides)
    return SmppSettings(**values)


class Until:
    """A Deferred that fires when ``check()`` becomes true, re-checked on every event."""

    def __init__(self, check: Callable[[], bool], what: str) -> None:
        self.check = check
        self.what = what
        self.d: defer.Deferred[None] = defer.Deferred()
        self.d.addTimeout(TIMEOUT, reactor, onTimeoutCancel=self._timeout)

    def _timeout(self, result, timeout):
        raise AssertionError(f"timed out after {timeout}s waiting for {self.what}")

    def poke(self, *_: object) -> None:
        if not self.d.called and self.check():
            self.d.callback(None)


def start(settings: SmppSettings, store=None) -> tuple[SmppService, MemorySmsStore]:
    store = store or MemorySmsStore()
    service = SmppService(settings, store, clock=reactor)
    service.startService()
    return service, store


def bounded(d: defer.Deferred, what: str) -> defer.Deferred:
    def timed_out(result, timeout):
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    return d.addTimeout(TIMEOUT, reactor, onTimeoutCancel=timed_out)


def sms(
    i: int, text: str = "您好，请对民警的服务进行评价：回复1满意，2基本满意，3不满意。"
) -> OutboundSms:
    return OutboundSms(i, "13812345678", text)


@pytest_twisted.inlineCallbacks
def test_bind_refused_backs_off_and_names_the_status(peer):
    """A wrong password: ESME_RINVPASWD is kept, binds are retried with backoff, not hot."""
    service, _ = start(settings_for(peer, "plain", password="wrong"))

    # A plain check, not an Until: nothing fires on a refused bind, and an Until's pending
    # timeout would fail whichever test runs twenty seconds later.
    def three_binds() -> bool:
        return len(peer.of("bind")) >= 3

    waits = []
    for _ in range(200):
        if three_binds():
            break
        w = defer.Deferred()
        reactor.callLater(0.05, w.callback, None)
        waits.append(w)
        yield w
    yield service.stopService()
    assert service.last_bind_error == "ESME_RINVPASWD"
    binds = peer.of("bind")
    assert all(b["ok"] is False for b in binds)
    assert len(binds) <= 6  # backoff 0.1, 0.2, 0.4, 0.8 ... not hundreds


@pytest_twisted.inlineCallbacks
def test_link_closed_with_requests_in_the_window_gives_one_outcome_each(peer):
    """The SMSC drops the link with 5 submits unanswered: reconnect, resend, 12 outcomes."""
    service, store = start(settings_for(peer, "drop"))
    yield bounded(service.whenBound(), "bind")
    results = yield bounded(
        defer.gatherResults([service.submit(sms(i)) for i in range(12)]), "12 outcomes"
    )
    yield service.stopService()
    assert sorted(r.outbound_id for r in results) == list(range(12))
    assert [r.status for r in results] == ["submitted"] * 12
    assert len(store.outcomes) == 12  # exactly one each, stored
    assert len(peer.of("dropped")) == 1
    assert len([b for b in peer.of("bind") if b["ok"]]) == 2


@pytest_twisted.inlineCallbacks
def test_throttling_slows_down_and_every_message_goes(peer):
    """ESME_RTHROTTLED / ESME_RMSGQFUL answers: a pause, resends, all 20 submitted."""
    service, _ = start(settings_for(peer, "throttle", throttle_backoff=0.2, max_submit_tries=8))
    yield bounded(service.whenBound(), "bind")
    results = yield bounded(
        defer.gatherResults([service.submit(sms(i)) for i in range(20)]), "20 outcomes"
    )
    yield service.stopService()
    assert [r.status for r in results] == ["submitted"] * 20
    assert service.stats["throttled"] >= 1
    assert len(peer.of("submit")) > 20  # the throttled ones were sent again


def _all_final(store: MemorySmsStore, ids) -> bool:
    return all(store.outbound_status.get(i) in ("delivered", "undeliverable") for i in ids)


@pytest_twisted.inlineCallbacks
def test_receipt_before_response_still_ends_delivered(peer):
    """The peer sends each receipt before its submit_sm_resp; all end delivered."""
    service, store = start(settings_for(peer, "early"))
    done = Until(lambda: _all_final(store, range(5)), "5 delivered")
    service.add_receipt_observer(done.poke)
    yield bounded(service.whenBound(), "bind")
    yield bounded(defer.gatherResults([service.submit(sms(i)) for i in range(5)]), "outcomes")
    done.poke()
    yield done.d
    yield service.stopService()
    assert [store.outbound_status[i] for i in range(5)] == ["delivered"] * 5


@pytest_twisted.inlineCallbacks
def test_duplicate_and_out_of_order_receipts_end_delivered(peer):
    """ENROUTE, DELIVRD, DELIVRD, ENROUTE: the final state stays delivered."""
    service, store = start(settings_for(peer, "dupes"))
    updates = []
    done = Until(lambda: len(updates) >= 12 and _all_final(store, range(3)), "12 receipts")
    service.add_receipt_observer(lambda u: (updates.append(u), done.poke()))
    yield bounded(service.whenBound(), "bind")
    yield bounded(defer.gatherResults([service.submit(sms(i)) for i in range(3)]), "outcomes")
    yield done.d
    yield service.stopService()
    assert [store.outbound_status[i] for i in range(3)] == ["delivered"] * 3
    last = {u.outbound_id: u.final_status for u in updates if u.outbound_id is not None}
    assert last == {0: "delivered", 1: "delivered", 2: "delivered"}


@pytest_twisted.inlineCallbacks
def test_decimal_receipt_ids_match_with_the_decimal_plugin(peer):
    """A carrier writing ids in decimal is matched with message_id_format=decimal."""
    service, store = start(settings_for(peer, "decimal", message_id_format="decimal"))
    done = Until(lambda: _all_final(store, range(3)), "3 delivered")
    service.add_receipt_observer(done.poke)
    yield bounded(service.whenBound(), "bind")
    yield bounded(defer.gatherResults([service.submit(sms(i)) for i in range(3)]), "outcomes")
    done.poke()
    yield done.d
    yield service.stopService()
    assert [store.outbound_status[i] for i in range(3)] == ["delivered"] * 3


@pytest_twisted.inlineCallbacks
def test_multipart_ucs2_reply_is_reassembled(peer):
    """A 3-part UCS2 reply sent out of order, and a 2-part SAR reply, come out whole."""
    service, store = start(settings_for(peer, "replies"))
    replies = []
    done = Until(lambda: len(replies) >= 2, "two replies")
    service.add_reply_observer(lambda r: (replies.append(r), done.poke()))
    yield done.d
    yield service.stopService()
    (sent,) = peer.of("replies_sent")
    by_sender = {r.source_addr: r for r in replies}
    assert by_sender["13812345678"].text == sent["text"]
    assert by_sender["13812345678"].incomplete is False
    assert by_sender["13912345678"].text == "1 satisfied"
    assert store.held == {}


@pytest_twisted.inlineCallbacks
def test_replies_arrive_on_the_receiver_of_a_pair(peer):
    """bind_mode=pair binds a transmitter and a receiver; replies come on the receiver."""
    service, _ = start(settings_for(peer, "replies", bind_mode="pair"))
    replies = []
    done = Until(lambda: len(replies) >= 2, "two replies")
    service.add_reply_observer(lambda r: (replies.append(r), done.poke()))
    yield bounded(service.whenBound(), "bind")
    outcome = yield bounded(service.submit(sms(1)), "outcome")
    yield done.d
    yield service.stopService()
    assert outcome.status == "submitted"
    commands = sorted(b["command"] for b in peer.of("bind") if b["ok"])
    assert commands == ["bind_receiver", "bind_transmitter"]


@pytest_twisted.inlineCallbacks
def test_emoji_and_mixed_text_are_split_where_the_peer_can_read_them(peer):
    """An emoji on a part boundary and mixed GSM/Chinese text: the peer decodes every part
    cleanly and the parts join back to the original."""
    texts = {
        1: "好" * 66 + "😀" + "评价" * 20,
        2: "Reply 1 满意 / 2 基本满意 / 3 不满意 " * 4,
        3: "a" * 152 + "€" + "b" * 30,
    }
    service, _ = start(settings_for(peer, "noreceipt"))
    yield bounded(service.whenBound(), "bind")
    results = yield bounded(
        defer.gatherResults(
            [service.submit(OutboundSms(i, "13812345678", t)) for i, t in texts.items()]
        ),
        "outcomes",
    )
    yield service.stopService()
    assert [r.status for r in results] == ["submitted"] * 3
    submits = peer.of("submit")
    for i in (1, 2):  # UCS2: the peer's own decoding of each part joins back to the text
        parts = sorted(
            (s for s in submits if s["udh"] and int(s["udh"][0][4:6], 16) == i),
            key=lambda s: int(s["udh"][0][8:10], 16),
        )
        assert all("\ufffd" not in p["message"] for p in parts)  # no half surrogate pair
        assert "".join(p["message"] for p in parts) == texts[i]
    assert [r.parts for r in results] == [2, 2, 2]


@pytest_twisted.inlineCallbacks
def test_enquire_link_timeout_drops_and_rebinds(peer):
    """An SMSC that stops answering enquire_link is dropped and bound again."""
    service, _ = start(
        settings_for(peer, "silent", enquire_link_interval=0.2, response_timeout=0.3)
    )
    rebound = Until(lambda: len([b for b in peer.of("bind") if b["ok"]]) >= 2, "a second bind")
    service.add_availability_observer(rebound.poke)
    yield rebound.d
    yield service.stopService()
    assert len(peer.of("enquire_link")) >= 1


@pytest_twisted.inlineCallbacks
def test_the_benchmark_peer_sends_citizens_replies_on_command():
    """``peer.js --control`` (the survey benchmark's reply source): an ``mo`` command sends
    UCS2 replies from consecutive citizens, texts in turn, and bad commands are reported."""
    from tests.smpp.conftest import start_peer

    control = start_peer("--control")
    try:
        service, store = start(settings_for(control, "plain"))
        yield bounded(service.whenBound(), "bind")
        replies = []
        done = Until(lambda: len(replies) >= 6, "six replies")
        service.add_reply_observer(lambda r: (replies.append(r), done.poke()))
        control.command(cmd="nonsense")
        control.command(cmd="mo", count=6, rate=0, texts=["1", "3 接警太慢"], to="1069", first=7)
        yield done.d
        yield service.stopService()
    finally:
        control.process.terminate()
        control.process.wait(timeout=5)
        control._reader.join(timeout=5)  # every line the peer printed has been read
    got = sorted((r.source_addr, r.destination_addr, r.text) for r in replies)
    assert got == [
        (f"13{7 + i:09d}", "1069", "1" if i % 2 == 0 else "3 接警太慢") for i in range(6)
    ]
    assert len(store.inbound) == 6
    [error] = control.of("control_error")
    assert "unknown command" in error["error"]
    assert [e["count"] for e in control.of("mo_done")] == [6]
