"""Delivery receipts: telling them apart, reading them, and matching them to what we sent.

Carriers differ in how a receipt names the message (hex or decimal, upper or lower case, padded
with zeros), so message-id normalisation is a plug-in chosen by ``message_id_format``, not an
if-branch at the call site. The state logic is order-free: a receipt that arrives twice, out of
order, or before the ``submit_sm_resp`` still ends in the right final state.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

ESM_RECEIPT_MASK = 0x3C
ESM_SMSC_RECEIPT = 0x04

MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
_STATE_ALIASES = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
}
DELIVERED = frozenset({"DELIVRD"})
FAILED = frozenset({"UNDELIV", "EXPIRED", "REJECTD", "DELETED"})
FINAL = DELIVERED | FAILED

_FIELD = re.compile(
    r"(?P<key>id|sub|dlvrd|submit date|done date|stat|err|text)\s*:\s*", re.IGNORECASE
)


class ReceiptError(ValueError):
    """A receipt whose text and TLVs together carry no message id or no state."""


@dataclass(frozen=True)
class Receipt:
    message_id: str  # as the carrier wrote it
    id_source: str  # "tlv" (receipted_message_id, same format as submit_sm_resp) or "text"
    state: str
    error: str | None
    submit_date: datetime | None
    done_date: datetime | None
    text: str


def is_receipt(esm_class: int) -> bool:
    """esm_class bits 2..5 = 0001: SMSC delivery receipt (other non-zero types are acks)."""
    return (esm_class & ESM_RECEIPT_MASK) == ESM_SMSC_RECEIPT


@functools.lru_cache(maxsize=1024)  # receipts of one minute share their dates
def _parse_date(value: str | None) -> datetime | None:
    """``YYMMDDhhmm`` or ``YYMMDDhhmmss`` as aware UTC; anything else is None (kept in text)."""
    if not value:
        return None
    d = value.strip()
    if len(d) not in (10, 12) or not d.isdigit():
        return None
    try:
        return datetime(
            2000 + int(d[0:2]),
            int(d[2:4]),
            int(d[4:6]),
            int(d[6:8]),
            int(d[8:10]),
            int(d[10:12]) if len(d) == 12 else 0,
            tzinfo=UTC,
        )
    except ValueError:
        return None


_STANDARD = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\S*) dlvrd:(?P<dlvrd>\S*) submit date:(?P<submit>\d*) "
    r"done date:(?P<done>\d*) stat:(?P<stat>\S*) err:(?P<err>\S*)(?: text:(?P<text>.*))?$",
    re.IGNORECASE | re.DOTALL,
)


def parse_receipt_text(text: str) -> dict[str, str]:
    """``id:1 sub:001 dlvrd:001 submit date:2401011200 done date:... stat:DELIVRD err:000``
    → a dict with lower-case keys. Unknown content is ignored; missing keys are absent."""
    m = _STANDARD.match(text)
    if m is not None:  # the common layout, read in one match
        std = {
            "id": m["id"],
            "sub": m["sub"],
            "dlvrd": m["dlvrd"],
            "submit date": m["submit"],
            "done date": m["done"],
            "stat": m["stat"],
            "err": m["err"],
        }
        if m["text"] is not None:
            std["text"] = m["text"]
        return std
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        key = m.group("key").lower()
        value = text[m.end() : end].strip()
        if key == "text":
            value = text[m.end() :]
            fields[key] = value
            break
        fields.setdefault(key, value)
    return fields


def parse_receipt(
    short_message_text: str,
    receipted_message_id: bytes | str | None = None,
    message_state: int | None = None,
) -> Receipt:
    """Combine the receipt text and the TLVs; TLVs win when both are present."""
    fields = parse_receipt_text(short_message_text)
    if isinstance(receipted_message_id, bytes):
        receipted_message_id = receipted_message_id.decode("latin-1")
    if receipted_message_id:
        message_id, source = receipted_message_id.strip("\0 "), "tlv"
    elif fields.get("id"):
        message_id, source = fields["id"], "text"
    else:
        raise ReceiptError("receipt carries no message id (neither receipted_message_id nor id:)")
    if message_state is not None and message_state in MESSAGE_STATES:
        state = MESSAGE_STATES[message_state]
    elif fields.get("stat"):
        raw = fields["stat"].upper()
        state = _STATE_ALIASES.get(raw, raw)
    else:
        raise ReceiptError(
            f"receipt for message id {message_id!r} carries no state (neither message_state"
            " nor stat:)"
        )
    return Receipt(
        message_id=message_id,
        id_source=source,
        state=state,
        error=fields.get("err"),
        submit_date=_parse_date(fields.get("submit date")),
        done_date=_parse_date(fields.get("done date")),
        text=short_message_text,
    )


def in_zone(moment: datetime | None, zone: tzinfo) -> datetime | None:
    """A receipt date parsed as UTC re-read as the wall time of ``zone`` (the SMSC's), in UTC."""
    if moment is None:
        return None
    return _in_zone(moment, zone)


@functools.lru_cache(maxsize=4096)
def _in_zone(moment: datetime, zone: tzinfo) -> datetime:
    # Receipt dates are to the minute (or second), so a burst of receipts shares a handful:
    # the zone's rules are looked up once for each, not for every receipt.
    return moment.replace(tzinfo=zone).astimezone(UTC)


# --- message id normalisation: one plug-in per carrier habit --------------------------------


class MessageIdFormat:
    """Map ids from ``submit_sm_resp`` and from receipts onto one comparable key."""

    name = "as_is"

    def _clean(self, message_id: str) -> str:
        cleaned = message_id.strip().strip("\0").lower().lstrip("0")
        return cleaned or "0"

    def response_key(self, message_id: str) -> str:
        return self._clean(message_id)

    def receipt_key(self, message_id: str, source: str) -> str:
        return self._clean(message_id)


class HexIds(MessageIdFormat):
    """Both sides are hexadecimal numbers, perhaps in different case or padding."""

    name = "hex"

    def _num(self, message_id: str, base: int) -> str:
        try:
            return format(int(message_id.strip().strip("\0"), base), "x")
        except ValueError:
            return self._clean(message_id)

    def response_key(self, message_id: str) -> str:
        return self._num(message_id, 16)

    def receipt_key(self, message_id: str, source: str) -> str:
        return self._num(message_id, 16)


class DecimalReceiptIds(HexIds):
    """The response id is hexadecimal but the receipt text writes it in decimal (a common
    SMSC habit); the ``receipted_message_id`` TLV keeps the response's format."""

    name = "decimal"

    def receipt_key(self, message_id: str, source: str) -> str:
        if source == "tlv":
            return self._num(message_id, 16)
        try:
            return format(int(message_id.strip(), 10), "x")
        except ValueError:
            return self._clean(message_id)


ID_FORMATS: dict[str, type[MessageIdFormat]] = {
    "as_is": MessageIdFormat,
    "hex": HexIds,
    "decimal": DecimalReceiptIds,
}


def id_format(name: str) -> MessageIdFormat:
    try:
        return ID_FORMATS[name]()
    except KeyError:
        raise ValueError(f"unknown message_id_format {name!r}") from None


# --- state after receipts, whatever their order ---------------------------------------------


def part_state_after(
    current: str | None,
    current_done: datetime | None,
    new: str,
    new_done: datetime | None,
) -> str:
    """The part's state once ``new`` has been seen.

    A final state is never replaced by an intermediate one (a late ENROUTE after DELIVRD), a
    duplicate changes nothing, and between two different final states the one with the later
    ``done date`` wins (the first one seen when dates are missing or equal).
    """
    if current is None:
        return new
    if current in FINAL:
        if (
            new in FINAL
            and new != current
            and current_done
            and new_done
            and new_done > current_done
        ):
            return new
        return current
    return new


def message_status(part_states: list[str | None], total_parts: int) -> str | None:
    """Outbound status from its parts: any part failed → ``undeliverable``; every part
    delivered → ``delivered``; otherwise not final yet (``None``)."""
    if any(s in FAILED for s in part_states):
        return "undeliverable"
    if len(part_states) >= total_parts and all(s in DELIVERED for s in part_states):
        return "delivered"
    return None
