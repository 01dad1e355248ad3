"""A reply's parts read from ``deliver_sm`` PDUs, and one reply made of them.

Shared by the service (parts as they arrive), the stores (held parts read back from their
stored PDUs, assembled by whichever process holds the last one) and start-up restore.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from twisted.logger import Logger

from gateway.smpp import codec, encoding
from gateway.smpp.reassembly import InboundPart, Key, concat_problem
from gateway.smpp.store import InboundRecord

log = Logger(namespace="pingjing.smpp")


def part_from_pdu(
    pdu: codec.Pdu, received_at: datetime, stored_id: int | None = None
) -> InboundPart:
    """The reply part a ``deliver_sm`` carries (a whole reply is part 1 of 1). A broken UDH
    keeps the user data as it is, so nothing is lost."""
    esm = pdu.get("esm_class", 0)
    payload = pdu.get("short_message", b"") or pdu.tlvs.get(codec.TAG_MESSAGE_PAYLOAD, b"")
    concat: encoding.Concat | None = None
    data = payload
    if esm & encoding.ESM_UDHI:
        try:
            data, concat = encoding.split_udh(payload)
        except encoding.EncodingError as exc:
            log.warn("reply with a broken UDH kept as is: {error}", error=str(exc))
            data, concat = payload, None
    sar_ref = pdu.get("sar_msg_ref_num")
    if concat is None and sar_ref is not None:
        concat = encoding.Concat(
            sar_ref, pdu.get("sar_total_segments", 1), pdu.get("sar_segment_seqnum", 1)
        )
    problem = concat and concat_problem(concat.total, concat.number)
    if problem:
        log.warn("reply with an impossible concatenation kept as one: {p}", p=problem)
        concat = None
    return InboundPart(
        source_addr=pdu.text_field("source_addr"),
        destination_addr=pdu.text_field("destination_addr"),
        reference=concat.reference if concat else 0,
        total=concat.total if concat else 1,
        number=concat.number if concat else 1,
        data=data,
        data_coding=pdu.get("data_coding", 0),
        esm_class=esm,
        raw=pdu.raw,
        received_at=received_at,
        stored_id=stored_id,
    )


def part_from_raw(
    raw: bytes, received_at: datetime, stored_id: int | None = None
) -> InboundPart | None:
    """A held part read back from its stored PDU; None if it is not a part of a long reply."""
    try:
        pdu = codec.decode(raw)
    except codec.DecodeError:
        return None
    part = part_from_pdu(pdu, received_at, stored_id)
    return part if part.total > 1 else None


def key_of(part: InboundPart) -> Key:
    return (part.source_addr, part.reference, part.total)


def record_from_parts(
    parts: Sequence[InboundPart], incomplete: bool, default_coding: str = "gsm0338"
) -> InboundRecord:
    """One reply from its parts in order (one per part number, the first kept)."""
    ordered = _in_order(parts)
    first = ordered[0]
    text = encoding.decode_text(
        b"".join(p.data for p in ordered), first.data_coding, default_coding
    )
    return InboundRecord(
        source_addr=first.source_addr,
        destination_addr=first.destination_addr,
        data_coding=first.data_coding,
        esm_class=first.esm_class,
        raw=tuple(p.raw for p in ordered),
        text=text,
        parts_total=first.total,
        incomplete=incomplete,
        received_at=max(p.received_at for p in ordered),
        part_ids=tuple(p.stored_id for p in parts if p.stored_id is not None),
    )


def _in_order(parts: Sequence[InboundPart]) -> list[InboundPart]:
    """One part per number (the first stored kept), by number."""
    if len(parts) == 1:  # a one-part reply, nearly every reply: nothing to order
        return list(parts)
    by_number: dict[int, InboundPart] = {}
    for p in sorted(parts, key=lambda p: (p.number, p.stored_id or 0)):
        by_number.setdefault(p.number, p)
    return [by_number[n] for n in sorted(by_number)]
