"""Text ↔ SMS octets: GSM 03.38 or UCS2, splitting into parts, UDH / SAR concatenation.

Pure functions. The rules the carrier and the handsets hold us to:

* GSM 03.38 default alphabet (``data_coding=0``, one unpacked septet per octet, the SMSC packs)
  when every character fits it, else UCS2 (UTF-16BE, ``data_coding=8``);
* 160 / 153 septets and 70 / 67 UTF-16 code units for single / concatenated (8-bit UDH) parts,
  one less octet of room with a 16-bit reference;
* a GSM escape sequence (``ESC`` + code, e.g. ``€``) and a UTF-16 surrogate pair (emoji) are never
  cut across parts, otherwise the handset shows garbage at the seam.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(GSM_BASIC) == 128
GSM_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
ESC = 0x1B
_GSM_ENCODE = {ch: bytes([i]) for i, ch in enumerate(GSM_BASIC) if ch != "\x1b"}
_GSM_ENCODE.update({ch: bytes([ESC, code]) for ch, code in GSM_EXTENSION.items()})
_GSM_EXT_DECODE = {code: ch for ch, code in GSM_EXTENSION.items()}

DC_DEFAULT = 0x00
DC_ASCII = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08

ESM_UDHI = 0x40
MAX_PARTS = 255


class EncodingError(ValueError):
    """A text cannot be sent as SMS (too long, or empty)."""


@dataclass(frozen=True)
class Part:
    """One ``submit_sm``'s worth of a message."""

    short_message: bytes  # UDH included when esm_class has UDHI
    data_coding: int
    esm_class: int
    part_number: int  # 1-based
    total: int
    reference: int | None  # concatenation reference, None for a single part
    sar: bool  # True: send sar_* TLVs instead of a UDH


@dataclass(frozen=True)
class Concat:
    """Where a received part belongs: reassembly key material."""

    reference: int
    total: int
    number: int


def is_gsm(text: str) -> bool:
    return all(ch in _GSM_ENCODE for ch in text)


def gsm_encode(text: str) -> bytes:
    try:
        return b"".join(_GSM_ENCODE[ch] for ch in text)
    except KeyError as exc:
        raise EncodingError(f"character {exc.args[0]!r} is not in the GSM 03.38 alphabet") from None


def gsm_decode(data: bytes) -> str:
    """Unpacked septets → text; unknown values become U+FFFD rather than an exception."""
    out: list[str] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b == ESC and i + 1 < len(data):
            out.append(_GSM_EXT_DECODE.get(data[i + 1], "\ufffd"))
            i += 2
            continue
        out.append(GSM_BASIC[b] if b < 128 and b != ESC else "\ufffd")
        i += 1
    return "".join(out)


def _gsm_units(ch: str) -> int:
    return len(_GSM_ENCODE[ch])


def _ucs2_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def limits(gsm: bool, concatenation: str) -> tuple[int, int]:
    """(single-part capacity, per-part capacity when concatenated), in septets or code units.

    SAR carries no UDH in ``short_message``, but the SMSC must add one on the air interface, so
    parts keep the same room as with an 8-bit UDH.
    """
    if gsm:
        return 160, 152 if concatenation == "udh16" else 153
    return 70, 66 if concatenation == "udh16" else 67


def split_text(text: str, gsm: bool, concatenation: str = "udh8") -> list[str]:
    """Cut ``text`` into chunks that each fit one part, never inside an escape or surrogate pair."""
    units = _gsm_units if gsm else _ucs2_units
    single, per_part = limits(gsm, concatenation)
    encoded = gsm_encode(text) if gsm else text.encode("utf-16-be", "surrogatepass")
    total = len(encoded) if gsm else len(encoded) // 2
    if total <= single:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        n = units(ch)
        if used + n > per_part:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += n
    if current:
        chunks.append("".join(current))
    return chunks


def make_parts(text: str, concatenation: str = "udh8", reference: int = 0) -> list[Part]:
    """The parts to submit for ``text``; ``reference`` is used only when there are several.

    With ``udh8`` the reference is taken modulo 256, with ``udh16`` and ``sar`` modulo 65536.
    """
    if text == "":
        raise EncodingError("empty text: nothing to send")
    gsm = is_gsm(text)
    chunks = split_text(text, gsm, concatenation)
    if len(chunks) > MAX_PARTS:
        raise EncodingError(f"text needs {len(chunks)} parts, at most {MAX_PARTS} allowed")
    dc = DC_DEFAULT if gsm else DC_UCS2

    def enc(chunk: str) -> bytes:
        return gsm_encode(chunk) if gsm else chunk.encode("utf-16-be")

    if len(chunks) == 1:
        return [Part(enc(chunks[0]), dc, 0, 1, 1, None, False)]
    total = len(chunks)
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        if concatenation == "sar":
            ref = reference % 65536
            parts.append(Part(enc(chunk), dc, 0, i, total, ref, True))
        elif concatenation == "udh16":
            ref = reference % 65536
            udh = bytes([6, 0x08, 4, ref >> 8, ref & 0xFF, total, i])
            parts.append(Part(udh + enc(chunk), dc, ESM_UDHI, i, total, ref, False))
        else:
            ref = reference % 256
            udh = bytes([5, 0x00, 3, ref, total, i])
            parts.append(Part(udh + enc(chunk), dc, ESM_UDHI, i, total, ref, False))
    return parts


def split_udh(payload: bytes) -> tuple[bytes, Concat | None]:
    """Strip a User Data Header; return the user data and the concatenation IE if any.

    A malformed UDH (length past the end) is reported as :class:`EncodingError`.
    """
    if not payload:
        raise EncodingError("UDHI set but short_message is empty")
    udhl = payload[0]
    if 1 + udhl > len(payload):
        raise EncodingError(f"UDH length {udhl} exceeds short_message of {len(payload)} octets")
    header = payload[1 : 1 + udhl]
    data = payload[1 + udhl :]
    concat = None
    i = 0
    while i + 2 <= len(header):
        iei, iel = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + iel]
        if len(value) != iel:
            raise EncodingError(f"UDH element 0x{iei:02X} truncated")
        if iei == 0x00 and iel == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == 0x08 and iel == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + iel
    return data, concat


def decode_text(data: bytes, data_coding: int, default: str = "gsm0338") -> str:
    """Decode a reply by ``data_coding``; undecodable octets become U+FFFD, never an exception.

    ``default`` says how the carrier uses ``data_coding=0`` (``gsm0338``, ``latin1``, ``ascii``).
    """
    dc = data_coding
    if dc == DC_DEFAULT:
        if default == "latin1":
            return data.decode("latin-1")
        if default == "ascii":
            return data.decode("ascii", errors="replace")
        return gsm_decode(data)
    if dc == DC_ASCII:
        return data.decode("ascii", errors="replace")
    if dc == DC_LATIN1:
        return data.decode("latin-1")
    if dc == DC_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if dc & 0x0C == 0x08 and dc & 0xC0 == 0x00:
        # general data coding group with UCS2 alphabet bits (e.g. 0x18 with message class)
        return data.decode("utf-16-be", errors="replace")
    if dc & 0xF0 == 0xF0 and not dc & 0x04:
        return gsm_decode(data)  # data coding / message class group, default alphabet
    return data.decode("latin-1")
