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

Links are named ``instance/boot/label#n`` (:func:`link_name`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gateway.smpp import codec

_SAR = ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum")


def fingerprint(pdu: codec.Pdu) -> str:
    """What a redelivery repeats byte for byte: addresses, coding, esm_class, the user data
    with its UDH (which holds a long reply's reference and part number), the SAR TLVs."""
    h = hashlib.sha256()
    payload = pdu.get("short_message", b"") or pdu.tlvs.get(codec.TAG_MESSAGE_PAYLOAD, b"")
    for value in (
        pdu.text_field("source_addr").encode(),
        pdu.text_field("destination_addr").encode(),
        bytes([pdu.get("data_coding", 0) & 0xFF, pdu.get("esm_class", 0) & 0xFF]),
        *(str(pdu.get(name, "")).encode() for name in _SAR),
        payload,
    ):
        h.update(len(value).to_bytes(4, "big"))
        h.update(value)
    return h.hexdigest()[:32]


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


def first_copy(arrival: Arrival, earlier: Iterable[Delivery]) -> Delivery | None:
    """The earliest delivery that ``arrival`` repeats because our resp to it may have been
    lost, or None: a new reply (even if its text is the same)."""
    if arrival.window <= 0:
        return None
    for d in sorted(earlier, key=lambda d: d.id):
        age = (arrival.received_at - d.received_at).total_seconds()
        if d.acked_at is None and age <= arrival.window and _link_gone(arrival, d, age):
            return d
    return None


def _link_gone(arrival: Arrival, d: Delivery, age: float) -> bool:
    if d.link is not None and d.link in arrival.live_links:
        return False  # an SMSC does not resend on a link that is still bound
    if d.link is None:
        return age > arrival.grace
    here, earlier = process_of(arrival.link), process_of(d.link)
    if earlier[0] == here[0]:
        return True  # this process's own closed link, or one of an earlier run of it
    return age > arrival.grace  # another process: alive, it proves its resps within the grace
