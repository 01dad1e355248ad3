"""Masking of phone numbers and secrets before they reach a log line or an error message."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86|0086)?1[3-9]\d{9}(?!\d)")


def mask_phone(number: str | None) -> str:
    """Return ``138****5678`` for ``13812345678``: the first three and last four digits stay.

    Numbers too short to hide anything useful (seven digits or fewer) are masked entirely
    except the last two, so even a short code never appears whole.
    """
    if not number:
        return "-"
    digits = "".join(_DIGITS.findall(number))
    if len(digits) >= 11:
        digits = digits[-11:]
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 7:
        return f"{digits[:2]}{'*' * (len(digits) - 6)}{digits[-4:]}"
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


def mask_phones_in_text(text: str) -> str:
    """Mask every Chinese mobile number that appears inside free text."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


REDACTED = "********"


def redact(value: object) -> str:
    """What a secret looks like in any output: never its length, never a prefix."""
    return REDACTED if value else ""
