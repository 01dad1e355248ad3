"""Citizen phone numbers: which ones can receive an SMS, and in what canonical form.

Business systems send numbers the way clerks typed them (``+86 138-1234-5678``, ``0086
13812345678``, full-width digits). Everything downstream (opt-outs, "recently surveyed",
reply matching) compares numbers as strings, so every door normalises through this one function.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s\-().\u00a0\u3000]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_PREFIXES = ("+86", "0086", "86")


@dataclass(frozen=True)
class PhoneCheck:
    """The outcome of reading one phone number: the mobile, or why there is none."""

    mobile: str | None
    reason: str | None = None

    @property
    def sms_able(self) -> bool:
        return self.mobile is not None


def normalise_mobile(raw: str) -> PhoneCheck:
    """Return the 11-digit national form of a Chinese mobile, or the reason it is not one.

    Only mobiles are SMS-able: landlines, short codes and foreign numbers are reported with a
    reason (the event is still recorded; its survey decision becomes ``not_mobile``).
    """
    if len(raw) == 11 and raw.isascii() and _MOBILE.fullmatch(raw):
        return PhoneCheck(raw)  # already canonical: what the steps below would give
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return PhoneCheck(None, "empty")
    compact = _SEPARATORS.sub("", text)
    for prefix in _PREFIXES:
        if compact.startswith(prefix) and len(compact) - len(prefix) == 11:
            compact = compact[len(prefix) :]
            break
    if compact.startswith("+"):
        return PhoneCheck(None, "foreign or malformed international number")
    if not compact.isascii() or not compact.isdigit():
        return PhoneCheck(None, "contains characters other than digits")
    if _MOBILE.fullmatch(compact):
        return PhoneCheck(compact)
    if compact.startswith("0"):
        return PhoneCheck(None, "landline (area code), not a mobile")
    if len(compact) != 11:
        return PhoneCheck(None, f"{len(compact)} digits, a mobile has 11")
    return PhoneCheck(None, "not a Chinese mobile prefix (13x-19x)")
