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


class FramingError(Exception):
    """The byte stream cannot be cut into PDUs any more; the link must be closed."""


class DecodeError(Exception):
    """One frame could not be decoded; the link survives and the peer gets a ``generic_nack``."""

    def __init__(
        self, reason: str, command_id: int | None = None, sequence: int | None = None
    ) -> None:
        self.reason = reason
        self.command_id = command_id
        self.sequence = sequence
        where = ""
        if command_id is not None:
            where = f" in command 0x{command_id:08X}"
            if sequence is not None:
                where += f" seq {sequence}"
        super().__init__(reason + where)


class UnknownCommandError(DecodeError):
    """A syntactically fine frame whose ``command_id`` SMPP 3.4 (or smpplib) does not define."""


@dataclass
class Pdu:
    """A decoded PDU: the header, smpplib's object for the fields, and the raw TLVs."""

    command: str
    command_id: int
    status: int
    sequence: int
    fields: Any = None  # the smpplib Command instance
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


def _walk(cls_params: dict, order: tuple, body: bytes, cmd_id: int, seq: int) -> tuple[int, dict]:
    """Check the mandatory fields of ``body`` against smpplib's layout; return the TLV offset
    and the parsed TLVs. Raises :class:`DecodeError` naming the field that does not fit."""
    pos = 0
    n = len(body)
    values: dict[str, int] = {}
    for name in order:
        param = cls_params[name]
        if _is_optional(name):
            break
        if pos == n:
            # A response may come without a body (submit_sm_resp carrying an error, or an
            # SMSC that omits an empty message_id); a body cut between fields is malformed.
            if pos == 0 and cmd_id & 0x80000000:
                return 0, {}
            raise DecodeError(f"body ends before mandatory field {name!r}", cmd_id, seq)
        if param.type is int:
            size = param.size
            if pos + size > n:
                raise DecodeError(f"field {name!r} truncated", cmd_id, seq)
            values[name] = int.from_bytes(body[pos : pos + size], "big")
            pos += size
        elif param.type is str:
            end = body.find(b"\0", pos)
            if end < 0:
                raise DecodeError(f"C-string field {name!r} has no terminating NUL", cmd_id, seq)
            limit = getattr(param, "max", None)
            if limit is not None and end - pos >= limit:
                raise DecodeError(
                    f"C-string field {name!r} is {end - pos} octets, at most {limit - 1}",
                    cmd_id,
                    seq,
                )
            pos = end + 1
        elif param.type is ostr:
            length = values.get(param.len_field, 0)
            if pos + length > n:
                raise DecodeError(
                    f"field {name!r} declares {length} octets, only {n - pos} left", cmd_id, seq
                )
            pos += length
    tlvs: dict[int, bytes] = {}
    tpos = pos
    while tpos < n:
        if tpos + 4 > n:
            raise DecodeError(f"TLV header truncated at body offset {tpos}", cmd_id, seq)
        tag, length = struct.unpack_from(">HH", body, tpos)
        if tpos + 4 + length > n:
            raise DecodeError(
                f"TLV 0x{tag:04X} declares {length} octets, only {n - tpos - 4} left",
                cmd_id,
                seq,
            )
        tlvs[tag] = body[tpos + 4 : tpos + 4 + length]
        tpos += 4 + length
    return pos, tlvs


_OPTIONAL_CACHE: dict[str, bool] = {}


def _is_optional(name: str) -> bool:
    from smpplib import consts

    hit = _OPTIONAL_CACHE.get(name)
    if hit is None:
        hit = _OPTIONAL_CACHE[name] = name in consts.OPTIONAL_PARAMS
    return hit


def command_name(command_id: int) -> str | None:
    try:
        return command_codes.get_command_name(command_id)
    except Exception:
        return None


def decode(frame: bytes) -> Pdu:
    """Decode exactly one whole frame (as cut by :class:`Framer`)."""
    if len(frame) < MIN_LENGTH:
        raise DecodeError(f"frame of {len(frame)} octets is shorter than the 16-octet header")
    length, cmd_id, status, seq = HEADER.unpack_from(frame)
    if length != len(frame):
        raise DecodeError(f"command_length {length} but frame has {len(frame)} octets", cmd_id, seq)
    name = command_name(cmd_id)
    if name is None:
        raise UnknownCommandError(f"unknown command_id 0x{cmd_id:08X}", cmd_id, seq)
    body = frame[16:]
    try:
        obj = smpp.make_pdu(name, sequence=seq, allow_unknown_opt_params=True)
    except Exception:
        raise UnknownCommandError(f"command {name} is not supported", cmd_id, seq) from None
    params = getattr(obj, "params", {})
    order = getattr(obj, "params_order", ())
    mandatory_end, tlvs = _walk(params, order, body, cmd_id, seq)
    try:
        # smpplib's TLV reader mis-handles unterminated C-strings and mismatched int sizes;
        # hand it only the mandatory part, TLVs are ours.
        obj.parse(frame[: 16 + mandatory_end])
    except Exception as exc:  # smpplib raises struct.error, IndexError, ValueError...
        raise DecodeError(f"smpplib could not parse the body: {exc!r}", cmd_id, seq) from None
    obj.status = status
    obj.sequence = seq
    for tag, raw in tlvs.items():
        _apply_tlv(obj, params, tag, raw)
    return Pdu(name, cmd_id, status, seq, obj, tlvs, frame)


def _apply_tlv(obj: Any, params: dict, tag: int, raw: bytes) -> None:
    """Set the known TLVs on the smpplib object, read correctly (C-strings with or without NUL)."""
    try:
        from smpplib.command import get_optional_name

        name = get_optional_name(tag)
    except Exception:
        return
    param = params.get(name)
    if param is None:
        return
    if param.type is int:
        setattr(obj, name, int.from_bytes(raw, "big") if raw else 0)
    elif param.type is str:
        setattr(obj, name, raw.split(b"\0", 1)[0])
    elif param.type is ostr:
        setattr(obj, name, raw)
    elif param.type is flag:
        setattr(obj, name, True)


def encode(command: str, sequence: int, status: int = 0, **fields: Any) -> bytes:
    """Build one PDU with smpplib. Text fields are latin-1 ``str``; ``short_message`` is bytes."""
    obj = smpp.make_pdu(command, sequence=sequence, **fields)
    obj.status = status
    obj.sequence = sequence
    return obj.generate()


def encode_generic_nack(sequence: int, status: int) -> bytes:
    return HEADER.pack(16, GENERIC_NACK, status, sequence)


def encode_header_only(command_id: int, sequence: int, status: int = 0) -> bytes:
    """Bodiless PDUs (enquire_link, unbind and their responses) without the smpplib detour."""
    return HEADER.pack(16, command_id, status, sequence)


def response_id(command_id: int) -> int:
    return command_id | 0x80000000


def tlv(tag: int, value: bytes) -> bytes:
    """One raw TLV, for PDUs whose TLVs smpplib does not know (and for tests)."""
    return struct.pack(">HH", tag, len(value)) + value
