"""The fixes txamqp 0.8.2 needs to carry Chinese text, applied once and tested on a real broker.

What is wrong in txamqp 0.8.2 (with Twisted 26 and RabbitMQ 3.10), measured here:

* It ships no AMQP spec: we carry the 0-9-1 XML (``amqp0-9-1.xml``, the AMQP Working Group's
  file, freely redistributable under its notice) and load it with ``load_spec``.
* ``Codec.enc_str`` writes the length of the *text*, then its UTF-8 bytes: any non-ASCII
  short/long string (a header value, a queue argument) desynchronises the frame and RabbitMQ
  closes the connection. Fixed: encode first, then write the byte length.
* ``Body.decode`` turns body bytes into text when they happen to be valid UTF-8, and
  ``read_content`` then counts *characters* against the header's *byte* size: a Chinese body
  waits forever for bytes that already arrived (the consumer hangs), or mixes str and bytes
  across frames and breaks the connection. Fixed: body frames stay bytes.
* Field tables only know ``S``, ``I``, ``F`` and ``t``: a header published by another client as
  a 64-bit int, an array or a timestamp raises in the frame decoder. Fixed: the full RabbitMQ
  field-type set is decoded; encoding picks ``t`` for bools and ``l`` for wide or negative ints,
  and every decoded value encodes again (``D`` decimals included), as a dead letter needs.
* Message properties whose names do not match the spec (``delivery_mode`` instead of
  ``delivery-mode``) are silently dropped. ``make_content`` refuses them instead.
* It uses the deprecated ``defer.returnValue``: exactly that warning, from txamqp only, is
  filtered; every other warning still shows.
* ``FrameReceiver`` calls ``frameLengthExceeded`` when the peer sends more than the negotiated
  ``frame_max`` without ending a frame, but never defines it: a broken or hostile peer made the
  read raise ``AttributeError``. Defined here: the frame is logged (its type, channel, declared
  and buffered sizes, not its bytes) and the connection is dropped, which the consumer answers
  like any lost connection (reconnect; unacked deliveries are redelivered).
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

import txamqp.spec
from twisted.logger import Logger
from txamqp import codec as tx_codec
from txamqp import connection as tx_connection
from txamqp import protocol as tx_protocol
from txamqp.content import Content

SPEC_FILE = "amqp0-9-1.xml"
_PATCHED = "_pingjing_compat"

log = Logger()

RETURNVALUE_WARNING = r"twisted\.internet\.defer\.returnValue was deprecated"


def filter_returnvalue_warning() -> None:
    """Silence the returnValue deprecation when txamqp triggers it, and nothing else."""
    warnings.filterwarnings(
        "ignore",
        message=RETURNVALUE_WARNING,
        category=DeprecationWarning,
        module=r"txamqp(\.|$)",
    )


def _enc_str(self: tx_codec.Codec, fmt: str, s: str | bytes) -> None:
    data = s if isinstance(s, bytes) else s.encode("utf-8")
    limit = 0xFF if fmt == "!B" else 0xFFFFFFFF
    if len(data) > limit:
        raise ValueError(f"AMQP string of {len(data)} bytes exceeds the {limit}-byte field")
    self.pack(fmt, len(data))
    self.write(data)


def _body_decode(spec: Any, dec: tx_codec.Codec) -> tx_connection.Body:
    return tx_connection.Body(dec.decode_longbytes())


#: Field-table value types that are one fixed-size big-endian number (AMQP 0-9-1, RabbitMQ).
_FIXED_FORMATS = {
    b"I": "!i",
    b"i": "!I",
    b"l": "!q",
    b"b": "!b",
    b"B": "!B",
    b"s": "!h",
    b"u": "!H",
    b"f": "!f",
    b"d": "!d",
    b"T": "!Q",
}


def _decode_value(c: tx_codec.Codec, kind: bytes) -> Any:
    unpack = c.unpack
    if kind == b"S":
        return c.decode_longstr()
    fixed = _FIXED_FORMATS.get(kind)
    if fixed is not None:
        return unpack(fixed)
    if kind == b"F":
        return c.decode_table()
    if kind == b"t":
        return c.decode_octet() != 0
    if kind == b"D":
        scale = unpack("!B")
        value = unpack("!i")
        return Decimal(value).scaleb(-scale)
    if kind == b"V":
        return None
    if kind == b"x":
        return c.decode_longbytes()
    if kind == b"A":
        size = unpack("!L")
        end = c.nread + size
        items = []
        while c.nread < end:
            items.append(_decode_value(c, c.read(1)))
        return items
    raise ValueError(f"unknown AMQP field type {kind!r}")


def _decode_table(self: tx_codec.Codec) -> dict[str, Any]:
    size = self.decode_long()
    start = self.nread
    result: dict[str, Any] = {}
    while self.nread - start < size:
        key = self.decode_shortstr()
        result[key] = _decode_value(self, self.read(1))
    return result


def _encode_value(c: tx_codec.Codec, value: Any) -> None:
    if isinstance(value, bool):
        c.write(b"t")
        c.encode_octet(1 if value else 0)
    elif isinstance(value, int):
        if -(2**31) <= value < 2**31:
            c.write(b"I")
            c.pack("!i", value)
        else:
            c.write(b"l")
            c.pack("!q", value)
    elif isinstance(value, float):
        c.write(b"d")
        c.pack("!d", value)
    elif isinstance(value, Decimal):
        _encode_decimal(c, value)
    elif isinstance(value, str):
        c.write(b"S")
        c.encode_longstr(value)
    elif isinstance(value, bytes):
        c.write(b"x")
        c.encode_longbytes(value)
    elif isinstance(value, dict):
        c.write(b"F")
        c.encode_table(value)
    elif isinstance(value, list | tuple):
        buf = BytesIO()
        inner = tx_codec.Codec(buf)
        for item in value:
            _encode_value(inner, item)
        inner.flush()
        data = buf.getvalue()
        c.write(b"A")
        c.pack("!L", len(data))
        c.write(data)
    elif value is None:
        c.write(b"V")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} in an AMQP field table")


def _encode_decimal(c: tx_codec.Codec, value: Decimal) -> None:
    """``D``: a scale octet and a signed 32-bit unscaled value, as ``_decode_value`` reads it.

    A header decoded from another client's ``D`` must encode again: the dead-letter copy carries
    the original headers, and an exception while txamqp writes a frame stops its writer for
    good, so no ack or publish of that connection would ever leave again.
    """
    if not value.is_finite():
        raise ValueError(f"AMQP decimals are finite, not {value}")
    scale = max(0, -int(value.as_tuple().exponent))
    unscaled = int(value.scaleb(scale))
    if scale > 0xFF or not -(2**31) <= unscaled < 2**31:
        raise ValueError(f"{value} does not fit an AMQP decimal (8-bit scale, 32-bit value)")
    c.write(b"D")
    c.pack("!B", scale)
    c.pack("!i", unscaled)


def _encode_table(self: tx_codec.Codec, table: dict[str, Any]) -> None:
    buf = BytesIO()
    inner = tx_codec.Codec(buf)
    for key, value in table.items():
        inner.encode_shortstr(key)
        _encode_value(inner, value)
    inner.flush()
    data = buf.getvalue()
    self.encode_long(len(data))
    self.write(data)


def describe_oversize_frame(data: bytes, limit: int) -> str:
    """What an unfinished frame beyond ``limit`` bytes is, for the log: never its payload."""
    if len(data) < 7:
        return f"{len(data)} bytes buffered without a complete frame header (limit {limit})"
    kind, channel, length = (
        data[0],
        int.from_bytes(data[1:3], "big"),
        int.from_bytes(data[3:7], "big"),
    )
    return (
        f"frame type {kind} on channel {channel} declares a payload of {length} bytes; "
        f"{len(data)} bytes buffered without its end, beyond the negotiated limit of {limit}"
    )


def _frame_length_exceeded(self: Any, data: bytes) -> None:
    peer = self.transport.getPeer() if self.transport is not None else None
    where = f"{peer.host}:{peer.port}" if peer is not None and hasattr(peer, "port") else "peer"
    log.error(
        "AMQP: {where} sent an oversize frame: {what}; dropping the connection",
        where=where,
        what=describe_oversize_frame(data, self.MAX_LENGTH),
    )
    if self.transport is not None:
        self.transport.loseConnection()


def install() -> None:
    """Apply the fixes to txamqp's classes (idempotent); call before the first connection."""
    filter_returnvalue_warning()
    if getattr(tx_codec.Codec, _PATCHED, False):
        return
    tx_protocol.FrameReceiver.frameLengthExceeded = _frame_length_exceeded
    tx_codec.Codec.enc_str = _enc_str
    tx_codec.Codec.decode_table = _decode_table
    tx_codec.Codec.encode_table = _encode_table
    tx_connection.Body.decode = staticmethod(_body_decode)
    setattr(tx_codec.Codec, _PATCHED, True)


def installed() -> bool:
    return bool(getattr(tx_codec.Codec, _PATCHED, False))


@cache
def load_spec() -> txamqp.spec.Spec:
    """The AMQP 0-9-1 spec carried in this package."""
    path = resources.files("gateway.amqp").joinpath(SPEC_FILE)
    with resources.as_file(path) as real:
        return txamqp.spec.load(str(real))


def basic_property_names() -> frozenset[str]:
    return frozenset(f.name for f in load_spec().classes.byname["basic"].fields)


def make_content(
    body: bytes | str,
    *,
    headers: dict[str, Any] | None = None,
    persistent: bool = True,
    **properties: Any,
) -> Content:
    """A message whose body is UTF-8 bytes and whose property names are checked against the spec.

    Property names may be given with underscores (``content_type``); they are sent with the
    spec's hyphens. A name the spec does not know raises instead of vanishing.
    """
    data = body.encode("utf-8") if isinstance(body, str) else body
    props: dict[str, Any] = {"delivery-mode": 2 if persistent else 1}
    if headers:
        props["headers"] = dict(headers)
    known = basic_property_names()
    for name, value in properties.items():
        spec_name = name.replace("_", "-")
        if spec_name not in known:
            raise ValueError(
                f"unknown AMQP basic property {name!r}; known: {', '.join(sorted(known))}"
            )
        props[spec_name] = value
    return Content(data, properties=props)


def body_bytes(content: Content) -> bytes:
    """The body as bytes (txamqp gives ``""`` for an empty body)."""
    body = content.body
    return body if isinstance(body, bytes) else body.encode("utf-8")


__all__ = [
    "basic_property_names",
    "body_bytes",
    "describe_oversize_frame",
    "filter_returnvalue_warning",
    "install",
    "installed",
    "load_spec",
    "make_content",
]
