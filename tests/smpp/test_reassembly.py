"""Multi-part replies reassembled, and delivered incomplete after the expiry."""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.task import Clock

from gateway.smpp.reassembly import InboundPart, Reassembler

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def part(n: int, total: int = 3, sender: str = "13812345678", ref: int = 7) -> InboundPart:
    return InboundPart(sender, "10690", ref, total, n, f"<{n}>".encode(), 8, 0x40, b"", NOW)


def test_parts_in_any_order_come_out_in_order_when_complete():
    """3, 1, 2 → the third add returns 1, 2, 3."""
    r = Reassembler(Clock(), 60, lambda parts: None)
    assert r.add(part(3)) is None
    assert r.add(part(1)) is None
    assert [p.number for p in r.add(part(2))] == [1, 2, 3]
    assert len(r) == 0


def test_same_reference_from_two_senders_does_not_mix():
    """The key includes the sender."""
    r = Reassembler(Clock(), 60, lambda parts: None)
    r.add(part(1, 2, sender="13800000001"))
    assert r.add(part(2, 2, sender="13800000002")) is None
    assert len(r) == 2


def test_expiry_delivers_what_arrived():
    """After the timeout the arrived parts go to on_expired, in order."""
    clock, expired = Clock(), []
    r = Reassembler(clock, 60, expired.append)
    r.add(part(3))
    r.add(part(1))
    clock.advance(59)
    assert expired == []
    clock.advance(1)
    assert [[p.number for p in e] for e in expired] == [[1, 3]]
    assert len(r) == 0


def test_duplicate_part_is_ignored():
    """The same part number twice counts once."""
    r = Reassembler(Clock(), 60, lambda parts: None)
    r.add(part(1, 2))
    assert r.add(part(1, 2)) is None
    assert r.add(part(2, 2)) is not None


def test_restored_parts_expire_relative_to_their_age():
    """A part restored 50 s old expires 10 s later with a 60 s timeout."""
    clock, expired = Clock(), []
    r = Reassembler(clock, 60, expired.append)
    r.add(part(1), age=50)
    clock.advance(10)
    assert len(expired) == 1
