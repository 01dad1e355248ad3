"""Generated and mutated SMPP PDUs for the fuzz run (benchmarks/fuzz_smpp.py) and its short
version in ``make test``.

Valid PDUs are built here from the codec's own layouts (compiled from smpplib's PDU classes),
not with the codec's encoder, so that decoding them back is a real check. Each :class:`Case`
names its mutation class and, where the class decides it, the answer SMPP 3.4 requires.
Every case is built from its own ``Random(f"{seed}:{index}")``, so one failing case is
rebuilt from the seed and its index alone.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Any

from smpplib import command_codes
from smpplib.ptypes import flag

from gateway.smpp import codec

HEADER = struct.Struct(">LLLL")
HARNESS_SEQ = 0x7FFF0000  # sequences at and above this belong to the harness's own PDUs

# Commands the codec knows (smpplib's table), and ids it does not.
KNOWN = sorted(
    cid for cid in command_codes.commands.values() if codec.command_name(cid) is not None
)
UNKNOWN = [0x07, 0x08, 0x0B, 0x21, 0x80000007, 0x80000008, 0x80000021, 0x00000111, 0x0000FFFF]
WITH_TLVS = [c for c in KNOWN if codec._layout(c).optional]
_ADDRESS = b"0123456789"
_TEXT = bytes(range(0x20, 0x7F))


@dataclass(frozen=True)
class Case:
    """One input: its mutation class, the bytes, and what must happen when that is decided
    by the class alone (``None``: the codec's own verdict is checked instead)."""

    cls: str
    data: bytes
    expect: str | None = None  # "ok", "nack:<status>", "answer:<status>", "drop"
    names: str | None = None  # text the error message must contain (the field or tag)


@dataclass
class Built:
    """A valid PDU and where its parts are, for the structured mutations."""

    command_id: int
    sequence: int
    values: dict[str, Any]
    tlvs: list[tuple[int, bytes]]
    cstrings: list[tuple[str, int, int, int]]  # (field, body offset, length, max)
    body: bytes

    def frame(self, body: bytes | None = None, command_id: int | None = None) -> bytes:
        body = self.body if body is None else body
        cid = self.command_id if command_id is None else command_id
        return HEADER.pack(16 + len(body), cid, 0, self.sequence) + body


def _cstr(rng: random.Random, name: str, most: int) -> bytes:
    n = rng.randrange(most) if rng.random() < 0.5 else rng.randrange(min(most, 12))
    alphabet = _ADDRESS if "addr" in name else _TEXT
    return bytes(rng.choice(alphabet) for _ in range(n))


def _tlv_value(rng: random.Random, kind: Any, size: int, most: int) -> bytes:
    if kind is flag:
        return b""
    if kind is int:
        return rng.randrange(256**size).to_bytes(size, "big")
    if kind is str:
        return _cstr(rng, "", most or 20) + b"\0"
    return bytes(rng.randrange(256) for _ in range(size or rng.randrange(most or 40)))


def build(
    rng: random.Random,
    command_id: int,
    sequence: int | None = None,
    short_message: bytes | None = None,
    esm_class: int | None = None,
    tlvs: list[tuple[int, bytes]] | None = None,
    data_coding: int | None = None,
) -> Built:
    """A valid PDU of ``command_id`` with random field values (and optional TLVs)."""
    layout = codec._layout(command_id)
    assert layout is not None
    seq = rng.randrange(1, HARNESS_SEQ) if sequence is None else sequence
    values: dict[str, Any] = {}
    cstrings: list[tuple[str, int, int, int]] = []
    parts: list[bytes] = []
    pos = 0
    for name, kind, size, len_field in layout.mandatory:
        if kind is int:
            if name == "sm_length":
                continue  # written with short_message
            value = rng.randrange(256**size)
            if name == "esm_class" and esm_class is not None:
                value = esm_class
            if name == "data_coding" and data_coding is not None:
                value = data_coding
            values[name] = value
            chunk = value.to_bytes(size, "big")
        elif kind is str:
            value = _cstr(rng, name, size)
            values[name] = value
            cstrings.append((name, pos, len(value), size))
            chunk = value + b"\0"
        else:
            data = short_message
            if data is None:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(min(size, 160))))
            values[name] = data
            values[len_field] = len(data)
            chunk = bytes((len(data),)) + data
        parts.append(chunk)
        pos += len(chunk)
    chosen = list(tlvs or [])
    if tlvs is None and layout.optional and rng.random() < 0.5:
        for tag in rng.sample(sorted(layout.optional), min(3, len(layout.optional))):
            _, kind, size, most = layout.optional[tag]
            chosen.append((tag, _tlv_value(rng, kind, size, most)))
    for tag, value in chosen:
        parts.append(codec.tlv(tag, value))
    return Built(command_id, seq, values, chosen, cstrings, b"".join(parts))


def _receipt_text(rng: random.Random) -> bytes:
    fields = [
        f"id:{rng.randrange(10**10):X}",
        "sub:001",
        "dlvrd:001",
        f"submit date:{rng.choice(['2412011200', '9999999999', '24120112', 'abcdefghij', ''])}",
        f"done date:{rng.choice(['2412011201', '0000000000', '241301250161', ''])}",
        f"stat:{rng.choice(['DELIVRD', 'UNDELIV', 'EXPIRED', 'BOGUS', '', 'DELIVRDDELIVRDXX'])}",
        f"err:{rng.choice(['000', 'xyz', '', '99999999999999999999'])}",
        "text:" + rng.choice(["hello", "", "\u00e9\u00ff"]),
    ]
    rng.shuffle(fields)
    del fields[: rng.randrange(3)]
    text = " ".join(fields).encode("latin-1")
    if rng.random() < 0.2:
        text = bytes(rng.randrange(256) for _ in range(rng.randrange(120)))
    return text[:254]


def _udh_payload(rng: random.Random) -> bytes:
    shapes = [
        b"",  # UDHI with nothing
        bytes((rng.randrange(6, 255),)) + b"\x00\x03\x01",  # UDH length past the end
        b"\x05\x00\x03\x01",  # IE truncated
        b"\x05\x00\x03" + bytes((rng.randrange(256), 0, 1)),  # total 0
        b"\x05\x00\x03" + bytes((rng.randrange(256), 2, 0)),  # part 0
        b"\x05\x00\x03" + bytes((rng.randrange(256), 2, rng.randrange(3, 256))),  # part > total
        b"\x06\x08\x04\x12\x34\x03\x09",  # 16-bit reference, part 9 of 3
        b"\x03\x00\x09\x01",  # IE length past the header
        bytes((rng.randrange(256),)),
    ]
    text = bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
    return (rng.choice(shapes) + text)[:254]


def _sar(rng: random.Random) -> list[tuple[int, bytes]]:
    ref = struct.pack(">H", rng.randrange(65536))
    total, number = rng.choice([(0, 1), (3, 0), (2, 5), (1, 1), (255, 255), (3, 2)])
    tlvs = [
        (codec.TAG_SAR_MSG_REF_NUM, ref),
        (codec.TAG_SAR_TOTAL_SEGMENTS, bytes((total,))),
        (codec.TAG_SAR_SEGMENT_SEQNUM, bytes((number,))),
    ]
    del tlvs[3 - rng.randrange(3) :]  # sometimes only some of the three
    rng.shuffle(tlvs)
    return tlvs


def _answer_for(command_id: int, status: int) -> str:
    """How SMPP 3.4 answers a request with a readable header but a bad body value."""
    if command_id & 0x80000000:
        return "response"  # a response is never answered
    if command_id in (codec.DELIVER_SM, 0x103):
        return f"answer:{status}"
    return f"nack:{status}"


def _set_length(frame: bytes, length: int) -> bytes:
    return struct.pack(">L", length & 0xFFFFFFFF) + frame[4:]


def _body_len_fixed(frame: bytes) -> bytes:
    return _set_length(frame, len(frame))


def make_case(seed: int, index: int, max_length: int = codec.MAX_LENGTH) -> Case:
    rng = random.Random(f"{seed}:{index}")
    kind = rng.choices(MUTATIONS, WEIGHTS)[0]
    return _MAKERS[kind](rng, max_length)


def _valid(rng: random.Random, _max: int) -> Case:
    return Case("valid", build(rng, rng.choice(KNOWN)).frame(), "ok")


def _bitflip(rng: random.Random, _max: int) -> Case:
    data = bytearray(build(rng, rng.choice(KNOWN)).frame())
    for _ in range(rng.randrange(1, 9)):
        pos = rng.randrange(4 if rng.random() < 0.9 else 0, len(data))
        data[pos] ^= 1 << rng.randrange(8)
    return Case("bitflip", bytes(data))


def _truncate(rng: random.Random, _max: int) -> Case:
    frame = build(rng, rng.choice(KNOWN)).frame()
    cut = frame[: rng.randrange(16, len(frame))] if len(frame) > 16 else frame
    return Case("truncate", _body_len_fixed(cut))


def _extend(rng: random.Random, _max: int) -> Case:
    frame = build(rng, rng.choice(KNOWN)).frame()
    extra = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    return Case("extend", _body_len_fixed(frame + extra))


def _length_too_short(rng: random.Random, _max: int) -> Case:
    frame = build(rng, rng.choice(KNOWN)).frame()
    return Case("length<16", _set_length(frame, rng.randrange(16)), "drop", "command_length")


def _length_too_long(rng: random.Random, max_length: int) -> Case:
    frame = build(rng, rng.choice(KNOWN)).frame()
    length = rng.choice([max_length + 1, rng.randrange(max_length + 1, 2**32), 2**32 - 1])
    return Case("length>max", _set_length(frame, length), "drop", "command_length")


def _length_lie(rng: random.Random, _max: int) -> Case:
    frame = build(rng, rng.choice(KNOWN)).frame()
    delta = rng.choice([-3, -1, 1, 2, 7, 100])
    return Case("length lie", _set_length(frame, max(16, len(frame) + delta)))


def _unknown_command(rng: random.Random, _max: int) -> Case:
    b = build(rng, rng.choice(KNOWN))
    cid = rng.choice(UNKNOWN) if rng.random() < 0.7 else rng.randrange(0x200, 0x80000000)
    if codec.command_name(cid) is not None:
        cid = 0x0000FFFF
    return Case("unknown command_id", b.frame(command_id=cid), f"nack:{codec.ESME_RINVCMDID}")


def _response_bit(rng: random.Random, _max: int) -> Case:
    b = build(rng, rng.choice([c for c in KNOWN if not c & 0x80000000]))
    cid = b.command_id | 0x80000000
    expect = "response" if codec.command_name(cid) else f"nack:{codec.ESME_RINVCMDID}"
    return Case("response bit on a request", b.frame(command_id=cid), expect)


def _cstring_without_nul(rng: random.Random, _max: int) -> Case:
    b = build(rng, rng.choice([c for c in KNOWN if codec._layout(c).mandatory]))
    if not b.cstrings:
        return _valid(rng, _max)
    name, pos, length, _ = rng.choice(b.cstrings)
    body = b.body[: pos + length] + bytes(rng.choice(_TEXT) for _ in range(rng.randrange(3)))
    if b.command_id & 0x80000000 and pos == 0 and not body:
        return Case("C-string without NUL", b.frame(body), "ok")  # an empty response body
    return Case(
        "C-string without NUL",
        b.frame(body),
        "response" if b.command_id & 0x80000000 else f"nack:{codec.ESME_RINVCMDLEN}",
        name,
    )


def _cstring_too_long(rng: random.Random, _max: int) -> Case:
    b = build(rng, rng.choice([c for c in KNOWN if codec._layout(c).mandatory]))
    if not b.cstrings:
        return _valid(rng, _max)
    name, pos, length, most = rng.choice(b.cstrings)
    long = bytes(rng.choice(_ADDRESS) for _ in range(most + rng.randrange(20)))
    body = b.body[:pos] + long + b.body[pos + length :]
    status = {"source_addr": codec.ESME_RINVSRCADR, "destination_addr": codec.ESME_RINVDSTADR}
    return Case(
        "C-string too long",
        b.frame(body),
        _answer_for(b.command_id, status.get(name, codec.ESME_RINVPARLEN)),
        name,
    )


def _tlv_case(rng: random.Random, cls: str) -> Case:
    cid = rng.choice(WITH_TLVS)
    layout = codec._layout(cid)
    tag = rng.choice(sorted(layout.optional))
    _name, kind, size, most = layout.optional[tag]
    good = _tlv_value(rng, kind, size, most)
    b = build(rng, cid, tlvs=[])
    if cls == "TLV wrong length":
        if kind is flag:
            bad = b"\x01"
        elif kind is str:
            bad = b"x" * (most + rng.randrange(5)) if most else None
        elif size:
            bad = bytes(rng.choice([n for n in range(0, 6) if n != size]))
        else:
            bad = None
        if bad is None:
            return Case(cls, b.frame(b.body + codec.tlv(tag, good)), "ok")
        body = b.body + codec.tlv(tag, bad)
        return Case(cls, b.frame(body), _answer_for(cid, codec.ESME_RINVPARLEN), f"0x{tag:04X}")
    if cls == "TLV past the end":
        body = b.body + struct.pack(">HH", tag, len(good) + rng.randrange(1, 300)) + good
        expect = _answer_for(cid, codec.ESME_RINVOPTPARSTREAM)
        return Case(cls, b.frame(body), expect, f"0x{tag:04X}")
    if cls == "TLV header cut":
        body = b.body + struct.pack(">HH", tag, len(good))[: rng.randrange(1, 4)]
        return Case(cls, b.frame(body), _answer_for(cid, codec.ESME_RINVOPTPARSTREAM), "TLV")
    if cls == "TLV repeated":
        body = b.body + codec.tlv(tag, good) + codec.tlv(tag, good)
        expect = _answer_for(cid, codec.ESME_RINVOPTPARSTREAM)
        return Case(cls, b.frame(body), expect, f"0x{tag:04X}")
    # unknown tags are ignored (SMPP 3.4 section 5.3), the PDU is read
    unknown = rng.choice([0x1400, 0x14FF, 0x3FFF, 0x0099, 0xFFFF])
    body = b.body + codec.tlv(unknown, bytes(rng.randrange(256) for _ in range(rng.randrange(9))))
    return Case(cls, b.frame(body), "ok")


def _deliver(rng: random.Random, cls: str) -> Case:
    if cls == "sar inconsistent":
        b = build(rng, codec.DELIVER_SM, esm_class=0, tlvs=_sar(rng))
    elif cls == "broken UDH":
        b = build(rng, codec.DELIVER_SM, esm_class=0x40, short_message=_udh_payload(rng), tlvs=[])
    elif cls == "bad receipt":
        tlvs = []
        if rng.random() < 0.5:
            tlvs.append((codec.TAG_MESSAGE_STATE, bytes((rng.randrange(256),))))
        if rng.random() < 0.5:
            tlvs.append((codec.TAG_RECEIPTED_MESSAGE_ID, _cstr(rng, "", 65) + b"\0"))
        b = build(
            rng, codec.DELIVER_SM, esm_class=0x04, short_message=_receipt_text(rng), tlvs=tlvs
        )
    else:  # random data_coding, random octets
        b = build(rng, codec.DELIVER_SM, esm_class=0, data_coding=rng.randrange(256), tlvs=[])
    return Case(cls, b.frame(), "ok")


def _short_message_lie(rng: random.Random, _max: int) -> Case:
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    b = build(rng, rng.choice([codec.DELIVER_SM, 0x04]), short_message=data, tlvs=[])
    if rng.random() < 0.5:  # 255 octets declared and present: over the 254 maximum
        body = b.body[: -len(data) - 1] + b"\xff" + bytes(255) if data else b.body
        status = codec.ESME_RINVMSGLEN
        return Case("sm_length lie", b.frame(body), _answer_for(b.command_id, status), "short")
    body = b.body[: len(b.body) - len(data) - 1] + bytes((len(data) + rng.randrange(1, 50),)) + data
    return Case("sm_length lie", b.frame(body), f"nack:{codec.ESME_RINVCMDLEN}", "short_message")


def _garbage(rng: random.Random, max_length: int) -> Case:
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    return Case("random octets", struct.pack(">L", 16 + len(body)) + rng.randbytes(12) + body)


_MAKERS = {
    "valid": _valid,
    "bitflip": _bitflip,
    "truncate": _truncate,
    "extend": _extend,
    "length<16": _length_too_short,
    "length>max": _length_too_long,
    "length lie": _length_lie,
    "unknown command_id": _unknown_command,
    "response bit on a request": _response_bit,
    "C-string without NUL": _cstring_without_nul,
    "C-string too long": _cstring_too_long,
    "sm_length lie": _short_message_lie,
    "random octets": _garbage,
}
for _cls in (
    "TLV wrong length",
    "TLV past the end",
    "TLV header cut",
    "TLV repeated",
    "TLV unknown",
):
    _MAKERS[_cls] = lambda rng, _max, _c=_cls: _tlv_case(rng, _c)
for _cls in ("sar inconsistent", "broken UDH", "bad receipt", "random data_coding"):
    _MAKERS[_cls] = lambda rng, _max, _c=_cls: _deliver(rng, _c)

MUTATIONS = list(_MAKERS)
WEIGHTS = [3 if k in ("valid", "bitflip", "truncate", "extend") else 1 for k in MUTATIONS]
