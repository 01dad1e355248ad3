"""Telling a reply the SMSC delivers again from a citizen who sends the same text again.

An MO ``deliver_sm`` carries no message id, so a copy is recognised by its content (a
:func:`fingerprint`) and by what we know of the link the earlier copy came on. The SMSC
delivers a message again only when it did not get our ``deliver_sm_resp``; it cannot have
missed it when it was *proven* to read it (a response came to a request written after it:
see :mod:`gateway.smpp.session`), and it does not resend on a link that is still bound. So an
earlier copy makes this one a redelivery iff it is unproven, within the window, and its link
is gone: a link of this process no longer bound, a link of an earlier run of this instance
(instance names are distinct per process and stable across restarts), or a link of another
process when the copy is older than the grace in which that process, if alive, proves it.
A copy another process took less than the grace ago leaves the new one unsure: it is kept
aside until the grace ends, then decided by :func:`settle`.

Links are named ``instance/boot/label#n`` (:func:`link_name`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.smpp import codec


def fingerprint(pdu: codec.Pdu) -> str:
    """What a redelivery repeats byte for byte: addresses, coding, esm_class, the user data
    with its UDH (which holds a long reply's reference and part number), the SAR TLVs."""
    f = pdu.fields
    source = pdu.text_field("source_addr").encode()
    destination = pdu.text_field("destination_addr").encode()
    coding = (getattr(f, "data_coding", None) or 0) & 0xFF
    esm = (getattr(f, "esm_class", None) or 0) & 0xFF
    ref = getattr(f, "sar_msg_ref_num", None)
    total = getattr(f, "sar_total_segments", None)
    seq = getattr(f, "sar_segment_seqnum", None)
    payload = getattr(f, "short_message", None) or pdu.tlvs.get(codec.TAG_MESSAGE_PAYLOAD, b"")
    sar = [b"" if v is None else str(v).encode() for v in (ref, total, seq)]
    values = [source, destination, bytes((coding, esm)), *sar, payload]
    # each value behind its length, hashed in one call (one per reply: the hot path)
    return hashlib.sha256(b"".join([_framed(v) for v in values])).hexdigest()[:32]


def _framed(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def link_name(instance: str, boot: str, label: str, n: int) -> str:
    return f"{instance}/{boot}/{label}#{n}"


def process_of(link: str) -> tuple[str, str]:
    """(instance, boot) of a link name."""
    instance, boot, _ = link.rsplit("/", 2)
    return instance, boot


@dataclass(frozen=True)
class Arrival:
    """One reply ``deliver_sm`` (or part), as the redelivery check needs it."""

    source_addr: str
    fingerprint: str
    link: str  # the link it came on
    live_links: frozenset[str]  # this process's links bound when it came
    received_at: datetime
    window: float  # seconds; 0: never a redelivery
    grace: float  # seconds


@dataclass(frozen=True)
class Delivery:
    """An earlier reply ``deliver_sm`` that was stored (kept for ``window`` seconds)."""

    id: int
    inbound_id: int | None  # the reply (or held part) row it became
    link: str | None
    received_at: datetime
    acked_at: datetime | None  # when the SMSC was proven to have read our resp


@dataclass(frozen=True)
class Verdict:
    first: Delivery | None = None  # a redelivery of this earlier delivery
    # not known yet: another process took the same content and, alive, would prove its
    # resp before then; the reply is kept aside until then (see :func:`settle`)
    unsure_until: datetime | None = None


#: The verdict on a new reply: no earlier copy makes it a redelivery or unsure.
NEW_REPLY = Verdict()


def judge(arrival: Arrival, earlier: Iterable[Delivery]) -> Verdict:
    """Is ``arrival`` a redelivery (of the earliest unproven copy whose link is gone), a new
    reply (even if its text is the same), or not known before the grace of another
    process's copy has passed?"""
    if arrival.window <= 0:
        return NEW_REPLY
    earlier = sorted(earlier, key=lambda d: d.id)
    if not earlier:  # most replies: nothing to weigh
        return NEW_REPLY
    proven = _proven(earlier)
    unsure: datetime | None = None
    for d in earlier:
        age = (arrival.received_at - d.received_at).total_seconds()
        if d.acked_at is not None or d.inbound_id in proven or age > arrival.window:
            continue
        if _link_gone(arrival, d, age):
            return Verdict(first=d)
        if not _ours(arrival.link, d):
            until = d.received_at + timedelta(seconds=arrival.grace)
            unsure = until if unsure is None else max(unsure, until)
    return Verdict(unsure_until=unsure)


def first_copy(arrival: Arrival, earlier: Iterable[Delivery]) -> Delivery | None:
    return judge(arrival, earlier).first


def settle(mine: Delivery, earlier: Iterable[Delivery]) -> Delivery | None:
    """At the end of the grace, for a reply kept aside: the earliest copy another process
    took that is still unproven makes it a redelivery (that process would have proven it by
    now if it were alive); None: the citizen sent it again."""
    earlier = sorted(earlier, key=lambda d: d.id)
    proven = _proven(earlier)
    for d in earlier:
        if d.acked_at is None and d.inbound_id not in proven and not _ours(mine.link or "", d):
            return d
    return None


def _proven(earlier: list[Delivery]) -> set[int | None]:
    """Replies the SMSC read a resp for: a redelivery's proven resp proves its first copy."""
    return {d.inbound_id for d in earlier if d.acked_at is not None}


def _ours(link: str, d: Delivery) -> bool:
    """Was ``d`` taken by this instance (this run or an earlier one)?"""
    if d.link is None or "/" not in link:
        return False
    return process_of(d.link)[0] == process_of(link)[0]


def _link_gone(arrival: Arrival, d: Delivery, age: float) -> bool:
    if d.link is not None and d.link in arrival.live_links:
        return False  # an SMSC does not resend on a link that is still bound
    if d.link is None:
        return age > arrival.grace
    here, earlier = process_of(arrival.link), process_of(d.link)
    if earlier[0] == here[0]:
        return True  # this process's own closed link, or one of an earlier run of it
    return age > arrival.grace  # another process: alive, it proves its resps within the grace
