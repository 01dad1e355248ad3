"""The redelivery rule: content fingerprints and what we know of the earlier copy's link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.smpp import codec
from gateway.smpp.redelivery import Arrival, Delivery, fingerprint, first_copy, link_name

T0 = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
HERE = link_name("gw-a", "b1", "trx", 2)
EARLIER_LINK_HERE = link_name("gw-a", "b1", "trx", 1)
EARLIER_RUN = link_name("gw-a", "b0", "trx", 1)
OTHER = link_name("gw-b", "c7", "trx", 1)


def pdu(seq: int, text: bytes = b"3", **fields) -> codec.Pdu:
    return codec.decode(
        codec.encode(
            "deliver_sm",
            seq,
            source_addr="13812345678",
            destination_addr="10690",
            short_message=text,
            **fields,
        )
    )


def arrival(after: float, live=(HERE,), link=HERE, grace=60.0, window=3600.0) -> Arrival:
    return Arrival(
        "13812345678", "f", link, frozenset(live), T0 + timedelta(seconds=after), window, grace
    )


def earlier(link: str | None, acked: bool = False, rid: int = 1) -> Delivery:
    return Delivery(rid, 100 + rid, link, T0, T0 if acked else None)


def test_fingerprint_ignores_the_sequence_number_and_sees_the_content():
    """A redelivery has a new sequence number; the same bytes otherwise."""
    assert fingerprint(pdu(1)) == fingerprint(pdu(99))
    assert fingerprint(pdu(1)) != fingerprint(pdu(1, b"4"))
    assert fingerprint(pdu(1)) != fingerprint(pdu(1, data_coding=8))


def test_fingerprint_tells_parts_of_a_long_reply_apart_by_their_udh():
    part = lambda n: pdu(1, bytes([5, 0, 3, 9, 2, n]) + b"ab", esm_class=0x40)  # noqa: E731
    assert fingerprint(part(1)) != fingerprint(part(2))


def test_a_copy_on_a_link_of_this_process_that_is_gone_is_a_redelivery():
    """Our link dropped with the resp in flight: the SMSC sends it again on the next bind."""
    assert first_copy(arrival(5), [earlier(EARLIER_LINK_HERE)]).id == 1


def test_a_copy_on_a_link_still_bound_is_a_genuine_repeat():
    """On a live link the SMSC does not resend: the citizen sent the same text again."""
    assert (
        first_copy(arrival(5, live=(HERE, EARLIER_LINK_HERE)), [earlier(EARLIER_LINK_HERE)]) is None
    )


def test_a_proven_copy_is_never_repeated_by_the_smsc():
    assert first_copy(arrival(5), [earlier(EARLIER_RUN, acked=True)]) is None


def test_a_copy_from_an_earlier_run_of_this_instance_is_a_redelivery_at_once():
    """kill -9 and restart: the earlier run's links died with it, however recent."""
    assert first_copy(arrival(1), [earlier(EARLIER_RUN)]).id == 1


def test_another_process_copy_counts_only_after_the_grace():
    """Another process proves its resps within the grace while it lives."""
    assert first_copy(arrival(30), [earlier(OTHER)]) is None
    assert first_copy(arrival(61), [earlier(OTHER)]).id == 1
    assert first_copy(arrival(61), [earlier(None)]).id == 1


def test_outside_the_window_or_with_the_check_off_nothing_is_a_redelivery():
    assert first_copy(arrival(3601), [earlier(EARLIER_RUN)]) is None
    assert first_copy(arrival(5, window=0), [earlier(EARLIER_RUN)]) is None


def test_the_first_unproven_copy_is_named():
    found = first_copy(arrival(5), [earlier(EARLIER_RUN, rid=3), earlier(EARLIER_RUN, True, 2)])
    assert found.id == 3


def test_a_young_unproven_copy_at_another_process_leaves_it_unsure_until_its_grace():
    from gateway.smpp.redelivery import judge

    verdict = judge(arrival(30), [earlier(OTHER)])
    assert verdict.first is None and verdict.unsure_until == T0 + timedelta(seconds=60)
    assert judge(arrival(30), [earlier(OTHER, acked=True)]).unsure_until is None


def test_settling_finds_the_other_process_copy_still_unproven_or_proven():
    from gateway.smpp.redelivery import settle

    mine = Delivery(9, 109, HERE, T0, None)
    assert settle(mine, [earlier(OTHER)]).id == 1
    assert settle(mine, [earlier(OTHER, acked=True)]) is None
    assert settle(mine, [earlier(EARLIER_LINK_HERE)]) is None  # ours: judged on arrival


def test_a_proven_redelivery_proves_its_first_copy():
    """The first copy's link died unproven; its redelivery's resp was proven (same row):
    the SMSC is done with that reply, so the same text later is the citizen's."""
    redelivered = Delivery(2, 101, EARLIER_LINK_HERE, T0, T0)
    assert first_copy(arrival(5), [earlier(EARLIER_RUN), redelivered]) is None
