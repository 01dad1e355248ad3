"""The closed set of SMPP failures and the ONE map from an SMPP command status to them.

Every caller that sees a non-zero ``command_status`` asks :func:`classify` what it means, so the
decision "retry, slow down or give up" lives in one place (as in Kannel's
``smpp_status_to_smscconn_failure_reason``) instead of being re-invented at each call site.
"""

from __future__ import annotations

import enum

from smpplib import consts


class ErrorKind(enum.Enum):
    RETRYABLE = "retryable"  # a transient SMSC problem: resend after a backoff
    THROTTLED = "throttled"  # the SMSC asks us to slow the bind down, then resend
    PERMANENT = "permanent"  # resending the same PDU can never succeed


class SmppError(Exception):
    """A failure with an SMPP status attached; ``kind`` says what the caller should do."""

    kind: ErrorKind = ErrorKind.RETRYABLE

    def __init__(self, status: int, context: str = "") -> None:
        self.status = status
        self.status_name = status_name(status)
        self.context = context
        suffix = f" ({context})" if context else ""
        super().__init__(f"{self.status_name} (0x{status:08X}){suffix}")


class Retryable(SmppError):  # noqa: N818 - the issue names the set Retryable/Throttled/Permanent
    kind = ErrorKind.RETRYABLE


class Throttled(SmppError):  # noqa: N818
    kind = ErrorKind.THROTTLED


class Permanent(SmppError):  # noqa: N818
    kind = ErrorKind.PERMANENT


_NAMES: dict[int, str] = {
    value: name[len("SMPP_") :]
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}

ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64

_THROTTLED = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})

# Statuses that describe the state of the SMSC or the link, not the message: resending the
# same PDU later can succeed. Everything else that is not ROK is about the message (bad
# address, bad parameter, rejected content) and is permanent.
_RETRYABLE = frozenset(
    {
        ESME_RSYSERR,
        ESME_RINVBNDSTS,  # we raced an unbind: the message itself is fine
        0x05,  # ESME_RALYBND
        0x0D,  # ESME_RBINDFAIL
        0x45,  # ESME_RSUBMITFAIL: generic, carriers use it for transient trouble
        ESME_RX_T_APPN,  # temporary application error
        0xFF,  # ESME_RUNKNOWNERR
    }
)


def status_name(status: int) -> str:
    """``0x0B`` → ``"ESME_RINVDSTADR"``; unknown codes get a stable hexadecimal name."""
    name = _NAMES.get(status)
    if name is not None:
        return name
    if 0x400 <= status <= 0x4FF:
        return f"ESME_VENDOR_0x{status:08X}"
    return f"ESME_0x{status:08X}"


def classify(status: int) -> ErrorKind | None:
    """What a non-zero command status means for the request; ``None`` for ``ESME_ROK``.

    Vendor-specific codes (0x400..0x4FF) are treated as retryable: we cannot know what a
    carrier meant, and a bounded number of retries is cheaper than dropping a survey.
    """
    if status == ESME_ROK:
        return None
    if status in _THROTTLED:
        return ErrorKind.THROTTLED
    if status in _RETRYABLE or 0x400 <= status <= 0x4FF:
        return ErrorKind.RETRYABLE
    return ErrorKind.PERMANENT


def error_for(status: int, context: str = "") -> SmppError:
    """The exception instance matching :func:`classify` for a non-zero status."""
    kind = classify(status)
    if kind is ErrorKind.THROTTLED:
        return Throttled(status, context)
    if kind is ErrorKind.PERMANENT:
        return Permanent(status, context)
    return Retryable(status, context)
