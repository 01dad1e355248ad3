"""Masking of phone numbers and secrets before they reach a log line or an error message."""

from __future__ import annotations

import re
from collections.abc import Iterable

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


# ``scheme://user:password@`` in any URL (database, AMQP, webhook). The password stops at the
# last ``@`` before the host, so a raw ``@`` or ``/`` inside it is hidden too.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^\s]*@")
# ``password=...`` in endpoint strings, query strings and DSNs (``key=value`` separated by
# ``:``, ``&``, ``;``, ``,`` or spaces).
_KEY_SECRET = re.compile(
    r"(?i)\b(?P<key>password|passwd|pwd|secret|token|api_key|apikey)(?P<sep>=|%3D)"
    r"(?P<value>[^:&;,\s'\"]+)"
)
#: Secrets shorter than this are not searched for in text (they would match everywhere).
MIN_SECRET_LENGTH = 4


def redact_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL password, every ``password=`` value and every configured secret
    (``secrets``: an iterable of strings) replaced by :data:`REDACTED`.

    The one redaction function: ``pingjing config show``, every log line (through
    :mod:`gateway.logs`) and error messages that may carry a URL go through it.
    """
    if not text:
        return text
    out = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{REDACTED}@", text)
    out = _KEY_SECRET.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", out)
    # longest first, so a secret containing another is replaced whole
    known = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(known, key=len, reverse=True):
        out = out.replace(secret, REDACTED)
    return out


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """What may be written to a log or an error: secrets redacted, mobile numbers masked."""
    return mask_phones_in_text(redact_secrets(text, secrets))


def shown(value: object) -> str:
    """An input value echoed in an error or a log line: its ``repr``, mobile numbers masked."""
    return mask_phones_in_text(repr(value))
