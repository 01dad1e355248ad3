"""The short code every survey SMS carries, so that a caller can name the survey by keypad.

A code is the service event's id modulo ``10**code_digits``, zero-padded, followed by one
check digit (Damm's algorithm: it catches every single wrong digit and every swap of two
neighbours, the two mistakes people make on a keypad). Digits only, derived from the id, so
it costs no lookup at intake and is known before the survey row is written.

Unique among open surveys as long as fewer than ``10**code_digits`` events arrive within one
reply window plus the longest send delay (the same rule as ``sub_number_digits``); should two
open surveys ever share a code, the phone line takes the most recent (``ivr.inbound_flow``).
"""

from __future__ import annotations

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def _damm(digits: str) -> int:
    interim = 0
    for d in digits:
        interim = _DAMM[interim][ord(d) - 48]
    return interim


def survey_code(event_pk: int, digits: int) -> str:
    """The code for the survey of service event ``event_pk``: ``digits`` digits + a check digit."""
    body = str(event_pk % 10**digits).zfill(digits)
    return body + str(_damm(body))


def code_length(digits: int) -> int:
    return digits + 1


def well_formed(code: str, digits: int) -> bool:
    """Whether ``code`` could be a survey code (right length, digits only, check digit right)."""
    return (
        len(code) == code_length(digits) and code.isascii() and code.isdigit() and _damm(code) == 0
    )
