"""SMPP 3.4 framing and PDU encode/decode on top of smpplib's PDU classes; no I/O, no Twisted.

smpplib is used for what it does well (the PDU definitions, ``make_pdu`` and ``generate``), and
guarded where it is fragile, as measured:

* ``parse_pdu`` takes exactly one PDU, so :class:`Framer` cuts the byte stream first;
* its parser never checks bounds (a missing NUL or a short body yields garbage, or an exception),
  so :func:`decode` walks the layout itself, strictly, before trusting smpplib's result;
* it drops the last character of a C-string TLV sent without its trailing NUL, so TLVs are read
  by :func:`decode` directly and kept raw in :attr:`Pdu.tlvs`;
* text fields go in as latin-1 ``str`` and ``short_message`` as ``bytes``.

Every failure is a :class:`DecodeError` carrying the command and sequence when known, so the
session can answer with ``generic_nack`` and keep the link.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from smpplib import command_codes, smpp
from smpplib.ptypes import flag, ostr

MIN_LENGTH = 16
MAX_LENGTH = 64 * 1024
HEADER = struct.Struct(">LLLL")

# TLV tags pingjing reads (SMPP 3.4 section 5.3.2)
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427
TAG_NETWORK_ERROR_CODE = 0x0423

GENERIC_NACK = 0x80000000
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005


class FramingError(Exception):
    """The byte stream cannot be cut into PDUs any more; the link must be closed."""


# command_status values for the answer to a PDU that cannot be read (SMPP 3.4 section 5.1.3)
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVOPTPARSTREAM = 0xC0
ESME_RINVPARLEN = 0xC2


class DecodeError(Exception):
    """One frame could not be decoded; the link survives and the peer gets an answer.

    ``status`` is the command_status of that answer. SMPP 3.4 (section 3.3) keeps
    ``generic_nack`` for a header that cannot be trusted (``ESME_RINVCMDLEN``: the body does
    not hold what the command needs; ``ESME_RINVCMDID``); a readable body with a bad value is
    answered with the command's own response carrying :attr:`status` (:attr:`header_fault`
    false). ``offset`` is where in the frame the fault is, counted from the first octet.
    """

    def __init__(
        self,
        reason: str,
        command_id: int | None = None,
        sequence: int | None = None,
        status: int = ESME_RINVCMDLEN,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.command_id = command_id
        self.sequence = sequence
        self.status = status
        self.offset = offset
        where = ""
        if offset is not None:
            where = f" at offset {offset}"
        if command_id is not None:
            name = command_name(command_id) or f"command 0x{command_id:08X}"
            where += f" in {name}"
            if sequence is not None:
                where += f" seq {sequence}"
        super().__init__(reason + where)

    @property
    def header_fault(self) -> bool:
        return self.status in (ESME_RINVCMDLEN, ESME_RINVCMDID)


class UnknownCommandError(DecodeError):
    """A syntactically fine frame whose ``command_id`` SMPP 3.4 (or smpplib) does not define."""

    def __init__(self, command_id: int, sequence: int) -> None:
        super().__init__(
            f"unknown command_id 0x{command_id:08X}", command_id, sequence, ESME_RINVCMDID, 4
        )


@dataclass
class Pdu:
    """A decoded PDU: the header, smpplib's object for the fields, and the raw TLVs."""

    command: str
    command_id: int
    status: int
    sequence: int
    fields: Any = None  # a Fields object: the body read against smpplib's PDU definition
    tlvs: dict[int, bytes] = field(default_factory=dict)
    raw: bytes = b""  # the frame as received, to store replies and receipts verbatim

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & 0x80000000)

    def get(self, name: str, default: Any = None) -> Any:
        value = getattr(self.fields, name, None) if self.fields is not None else None
        return default if value is None else value

    def text_field(self, name: str) -> str:
        """A C-string field as ``str`` (smpplib hands back bytes after parsing)."""
        value = self.get(name, b"")
        if isinstance(value, bytes):
            return value.decode("latin-1")
        return str(value)


class Framer:
    """Cuts a TCP byte stream into whole PDU frames.

    Handles partial reads and several PDUs in one read. A ``command_length`` outside
    16..64 KiB means the stream is no longer trustworthy: :meth:`feed` raises
    :class:`FramingError` and the protocol closes the link with that reason.
    """

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        self._buffer = bytearray()
        self._max_length = max_length
        self._broken: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self._broken is not None:
            raise FramingError(self._broken)
        self._buffer += data
        frames: list[bytes] = []
        buf = self._buffer
        pos = 0
        while len(buf) - pos >= 4:
            (length,) = struct.unpack_from(">L", buf, pos)
            if length < MIN_LENGTH or length > self._max_length:
                self._broken = (
                    f"command_length {length} outside {MIN_LENGTH}..{self._max_length} "
                    f"at stream offset +{pos}"
                )
                del buf[:pos]
                if frames:
                    break  # deliver the good frames first; the next feed() raises
                raise FramingError(self._broken)
            if len(buf) - pos < length:
                break
            frames.append(bytes(buf[pos : pos + length]))
            pos += length
        del buf[:pos]
        return frames

    @property
    def broken(self) -> str | None:
        return self._broken

    @property
    def buffered(self) -> int:
        return len(self._buffer)


class Fields:
    """The decoded fields of one PDU, as attributes (C-strings as bytes, like smpplib)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> None:
        return None  # a field the PDU did not carry

    def __repr__(self) -> str:
        return f"Fields({self.__dict__!r})"


@dataclass(frozen=True)
class _Layout:
    """One command's body, compiled once from smpplib's declarative PDU class."""

    name: str
    mandatory: tuple[tuple[str, Any, int, str | None], ...]  # (field, kind, size/max, len_field)
    optional: dict[int, tuple[str, Any, int, int]]  # TLV tag -> (field, kind, size, max)


_LAYOUTS: dict[int, _Layout | None] = {}


def _layout(command_id: int) -> _Layout | None:
    if command_id in _LAYOUTS:
        return _LAYOUTS[command_id]
    from smpplib import consts
    from smpplib.command import get_optional_code

    layout = None
    try:
        name = command_codes.get_command_name(command_id)
        obj = smpp.make_pdu(name, sequence=0)
    except Exception:
        name = None
    if name is not None:
        params = getattr(obj, "params", {})
        mandatory = []
        optional: dict[int, tuple[str, Any, int, int]] = {}
        for field_name in getattr(obj, "params_order", ()):
            param = params[field_name]
            if field_name in consts.OPTIONAL_PARAMS and field_name not in getattr(
                obj, "mandatory_fields", ()
            ):
                optional[get_optional_code(field_name)] = (
                    field_name,
                    param.type,
                    getattr(param, "size", None) or 0,
                    getattr(param, "max", None) or 0,
                )
                continue
            size = getattr(param, "size", None) or getattr(param, "max", None) or 0
            mandatory.append((field_name, param.type, size, getattr(param, "len_field", None)))
        layout = _Layout(name, tuple(mandatory), optional)
    _LAYOUTS[command_id] = layout
    return layout


_TOO_LONG_STATUS = {"source_addr": ESME_RINVSRCADR, "destination_addr": ESME_RINVDSTADR}


def _walk(layout: _Layout, body: bytes, cmd_id: int, seq: int) -> tuple[dict, dict]:
    """Read ``body`` strictly against the layout: every field must fit, every C-string must
    end in NUL within its maximum, every TLV must fit. Raises :class:`DecodeError` naming the
    field that does not and its offset in the frame."""
    pos = 0
    n = len(body)
    values: dict[str, Any] = {}
    for name, kind, size, len_field in layout.mandatory:
        at = 16 + pos
        if pos == n and not (kind is ostr and not values.get(len_field)):  # ostr: may be empty
            # A response may come without a body (submit_sm_resp carrying an error, or an
            # SMSC that omits an empty message_id); a body cut between fields is malformed.
            if pos == 0 and cmd_id & 0x80000000:
                return values, {}
            raise DecodeError(f"body ends before mandatory field {name!r}", cmd_id, seq, offset=at)
        if kind is int:
            if pos + size > n:
                raise DecodeError(f"field {name!r} truncated", cmd_id, seq, offset=at)
            values[name] = body[pos] if size == 1 else int.from_bytes(body[pos : pos + size], "big")
            pos += size
        elif kind is str:
            end = body.find(b"\0", pos)
            if end < 0:
                raise DecodeError(
                    f"C-string field {name!r} has no terminating NUL", cmd_id, seq, offset=at
                )
            if size and end - pos >= size:
                raise DecodeError(
                    f"C-string field {name!r} is {end - pos} octets, at most {size - 1}",
                    cmd_id,
                    seq,
                    _TOO_LONG_STATUS.get(name, ESME_RINVPARLEN),
                    at,
                )
            values[name] = body[pos:end]
            pos = end + 1
        elif kind is ostr:
            length = values.get(len_field, 0) if len_field else 0
            if size and length > size:
                raise DecodeError(
                    f"field {name!r} declares {length} octets, at most {size}",
                    cmd_id,
                    seq,
                    ESME_RINVMSGLEN,
                    at - 1,
                )
            if pos + length > n:
                raise DecodeError(
                    f"field {name!r} declares {length} octets, only {n - pos} left",
                    cmd_id,
                    seq,
                    offset=at,
                )
            values[name] = body[pos : pos + length]
            pos += length
    return values, _read_tlvs(layout, body, pos, values, cmd_id, seq)


def _read_tlvs(
    layout: _Layout, body: bytes, pos: int, values: dict[str, Any], cmd_id: int, seq: int
) -> dict[int, bytes]:
    """The optional part: unknown tags are kept raw and otherwise ignored (SMPP 3.4 section
    5.3); a known tag must have its defined length and appear once."""
    n = len(body)
    tlvs: dict[int, bytes] = {}
    while pos < n:
        if pos + 4 > n:
            raise DecodeError(
                f"TLV header truncated ({n - pos} of 4 octets)",
                cmd_id,
                seq,
                ESME_RINVOPTPARSTREAM,
                16 + pos,
            )
        tag, length = struct.unpack_from(">HH", body, pos)
        if pos + 4 + length > n:
            raise DecodeError(
                f"TLV 0x{tag:04X} declares {length} octets, only {n - pos - 4} left",
                cmd_id,
                seq,
                ESME_RINVOPTPARSTREAM,
                16 + pos,
            )
        raw = body[pos + 4 : pos + 4 + length]
        known = layout.optional.get(tag)
        if known is not None:
            name, kind, size, most = known
            if tag in tlvs:
                raise DecodeError(
                    f"TLV 0x{tag:04X} ({name}) repeated",
                    cmd_id,
                    seq,
                    ESME_RINVOPTPARSTREAM,
                    16 + pos,
                )
            problem = _tlv_length_problem(kind, size, most, raw)
            if problem:
                raise DecodeError(
                    f"TLV 0x{tag:04X} ({name}) {problem}", cmd_id, seq, ESME_RINVPARLEN, 16 + pos
                )
            if kind is int:
                values[name] = int.from_bytes(raw, "big")
            elif kind is str:
                values[name] = raw.split(b"\0", 1)[0]  # with or without its NUL
            elif kind is flag:
                values[name] = True
            else:
                values[name] = raw
        tlvs[tag] = raw
        pos += 4 + length
    return tlvs


def _tlv_length_problem(kind: Any, size: int, most: int, raw: bytes) -> str | None:
    if kind is flag:
        return None if not raw else f"is a flag, has {len(raw)} octets instead of 0"
    if kind is str:
        value = raw.split(b"\0", 1)[0]
        if most and len(value) >= most:
            return f"is {len(value)} octets, at most {most - 1}"
        return None
    if size and len(raw) != size:
        return f"has {len(raw)} octets instead of {size}"
    if most and len(raw) > most:
        return f"has {len(raw)} octets, at most {most}"
    return None


def _deliver_sm_fields(body: bytes) -> tuple[dict[str, Any], int] | None:
    """deliver_sm's mandatory fields (every receipt and reply) read without the generic walk;
    returns them and where the TLVs start, or None for anything irregular, which the generic
    walk then reads or reports. A property test checks that both read every body alike."""
    find = body.find
    e = find(b"\0")
    if e < 0 or e >= 6:
        return None
    service_type, p = body[:e], e + 3
    e = find(b"\0", p)  # found at or after p: the two octets before p exist
    if e < 0 or e - p >= 21:
        return None
    src_ton, src_npi, source_addr, p = body[p - 2], body[p - 1], body[p:e], e + 3
    e = find(b"\0", p)
    if e < 0 or e - p >= 21:
        return None
    dst_ton, dst_npi, destination_addr, flags, p = (
        body[p - 2], body[p - 1], body[p:e], e + 1, e + 4
    )  # fmt: skip
    e = find(b"\0", p)  # esm_class, protocol_id, priority_flag are before p
    if e < 0 or e - p >= 17:
        return None
    schedule, p = body[p:e], e + 1
    e = find(b"\0", p)
    if e < 0 or e - p >= 17:
        return None
    validity, p = body[p:e], e + 1
    if p + 5 > len(body) or body[p + 4] > 254:
        return None
    end = p + 5 + body[p + 4]
    if end > len(body):
        return None
    return {
        "service_type": service_type,
        "source_addr_ton": src_ton,
        "source_addr_npi": src_npi,
        "source_addr": source_addr,
        "dest_addr_ton": dst_ton,
        "dest_addr_npi": dst_npi,
        "destination_addr": destination_addr,
        "esm_class": body[flags],
        "protocol_id": body[flags + 1],
        "priority_flag": body[flags + 2],
        "schedule_delivery_time": schedule,
        "validity_period": validity,
        "registered_delivery": body[p],
        "replace_if_present_flag": body[p + 1],
        "data_coding": body[p + 2],
        "sm_default_msg_id": body[p + 3],
        "sm_length": body[p + 4],
        "short_message": body[p + 5 : end],
    }, end


def command_name(command_id: int) -> str | None:
    layout = _layout(command_id)
    return layout.name if layout is not None else None


def decode(frame: bytes) -> Pdu:
    """Decode exactly one whole frame (as cut by :class:`Framer`).

    The layout of each command comes from smpplib's PDU classes (compiled once); the reading
    itself is strict and bounds-checked, which smpplib's ``parse`` is not.
    """
    if len(frame) < MIN_LENGTH:
        raise DecodeError(
            f"frame of {len(frame)} octets is shorter than the 16-octet header", offset=0
        )
    length, cmd_id, status, seq = HEADER.unpack_from(frame)
    if length != len(frame):
        raise DecodeError(
            f"command_length {length} but frame has {len(frame)} octets", cmd_id, seq, offset=0
        )
    if cmd_id == SUBMIT_SM_RESP and length <= 16 + 65 and frame.find(b"\0", 16) == length - 1:
        # the hot path: one message_id C-string of at most 64 octets and nothing else, the
        # shape _walk accepts for it, read without the generic walk
        return Pdu(
            "submit_sm_resp", cmd_id, status, seq, Fields({"message_id": frame[16:-1]}), {}, frame
        )
    layout = _layout(cmd_id)
    if layout is None:
        raise UnknownCommandError(cmd_id, seq)
    body = frame[16:]
    fast = _deliver_sm_fields(body) if cmd_id == DELIVER_SM else None
    if fast is not None:
        values, pos = fast
        tlvs = _read_tlvs(layout, body, pos, values, cmd_id, seq)
    else:
        values, tlvs = _walk(layout, body, cmd_id, seq)
    return Pdu(layout.name, cmd_id, status, seq, Fields(values), tlvs, frame)


def encode(command: str, sequence: int, status: int = 0, **fields: Any) -> bytes:
    """Build one PDU with smpplib. Text fields are latin-1 ``str``; ``short_message`` is bytes."""
    obj = smpp.make_pdu(command, sequence=sequence, **fields)
    obj.status = status
    obj.sequence = sequence
    return obj.generate()


def encode_generic_nack(sequence: int, status: int) -> bytes:
    return HEADER.pack(16, GENERIC_NACK, status, sequence)


_SUBMIT_HEAD = struct.Struct(">LLLL")


def _cstr(value: str | None, limit: int, name: str) -> bytes:
    if not value:
        return b"\0"
    data = value.encode("latin-1")
    if len(data) >= limit:
        raise ValueError(f"{name} is {len(data)} octets, at most {limit - 1} allowed")
    return data + b"\0"


def encode_submit_sm(
    sequence: int,
    *,
    source_addr_ton: int = 0,
    source_addr_npi: int = 0,
    source_addr: str | None = None,
    dest_addr_ton: int = 0,
    dest_addr_npi: int = 0,
    destination_addr: str = "",
    esm_class: int = 0,
    registered_delivery: int = 0,
    data_coding: int = 0,
    validity_period: str | None = None,
    short_message: bytes = b"",
    sar_msg_ref_num: int | None = None,
    sar_total_segments: int | None = None,
    sar_segment_seqnum: int | None = None,
) -> bytes:
    """submit_sm without smpplib's per-field reflection (it costs ~200 µs a PDU, the hot path
    of the gateway). Byte-for-byte equal to ``encode("submit_sm", ...)``, which a property test
    checks; unlike smpplib it refuses over-long fields instead of truncating them."""
    if len(short_message) > 254:
        raise ValueError(f"short_message is {len(short_message)} octets, at most 254 allowed")
    body = b"".join(
        (
            b"\0",  # service_type
            bytes((source_addr_ton or 0, source_addr_npi or 0)),
            _cstr(source_addr, 21, "source_addr"),
            bytes((dest_addr_ton or 0, dest_addr_npi or 0)),
            _cstr(destination_addr, 21, "destination_addr"),
            bytes((esm_class or 0, 0, 0)),  # esm_class, protocol_id, priority_flag
            b"\0",  # schedule_delivery_time
            _cstr(validity_period, 17, "validity_period"),
            bytes((registered_delivery or 0, 0, data_coding or 0, 0, len(short_message))),
            short_message,
        )
    )
    if sar_msg_ref_num is not None:
        body += struct.pack(
            ">HHHHHBHHB",
            TAG_SAR_MSG_REF_NUM, 2, sar_msg_ref_num,
            TAG_SAR_TOTAL_SEGMENTS, 1, sar_total_segments or 0,
            TAG_SAR_SEGMENT_SEQNUM, 1, sar_segment_seqnum or 0,
        )  # fmt: skip
    return _SUBMIT_HEAD.pack(16 + len(body), 0x00000004, 0, sequence) + body


def encode_empty_id_resp(command_id: int, sequence: int, status: int = 0) -> bytes:
    """deliver_sm_resp / data_sm_resp: the header and an empty message_id (one NUL)."""
    return HEADER.pack(17, command_id, status, sequence) + b"\0"


def encode_header_only(command_id: int, sequence: int, status: int = 0) -> bytes:
    """Bodiless PDUs (enquire_link, unbind and their responses) without the smpplib detour."""
    return HEADER.pack(16, command_id, status, sequence)


def response_id(command_id: int) -> int:
    return command_id | 0x80000000


def tlv(tag: int, value: bytes) -> bytes:
    """One raw TLV, for PDUs whose TLVs smpplib does not know (and for tests)."""
    return struct.pack(">HH", tag, len(value)) + value
