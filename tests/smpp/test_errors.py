"""The one map from SMPP command status to Retryable / Throttled / Permanent."""

from __future__ import annotations

import pytest

from gateway import errors
from gateway.errors import ErrorKind


@pytest.mark.parametrize("status", [0x58, 0x14])
def test_throttling_statuses_are_throttled(status):
    """ESME_RTHROTTLED and ESME_RMSGQFUL slow the bind down."""
    assert errors.classify(status) is ErrorKind.THROTTLED


@pytest.mark.parametrize("status", [0x08, 0x64, 0x45, 0x04, 0x400, 0x4FF])
def test_transient_statuses_are_retryable(status):
    """System errors, temporary app errors and vendor codes are retried."""
    assert errors.classify(status) is ErrorKind.RETRYABLE


@pytest.mark.parametrize("status", [0x0B, 0x0A, 0x01, 0x62, 0x66, 0xC4])
def test_message_errors_are_permanent(status):
    """A bad destination or parameter can never succeed by resending."""
    assert errors.classify(status) is ErrorKind.PERMANENT


def test_every_status_from_0_to_0x500_has_a_kind_and_a_name():
    """The map is total: no status falls through."""
    for status in range(1, 0x500):
        assert errors.classify(status) in ErrorKind
        assert errors.status_name(status).startswith("ESME_")


def test_ok_is_not_an_error():
    """ESME_ROK classifies as None."""
    assert errors.classify(0) is None


def test_status_names():
    """Known codes have their SMPP names; unknown ones a stable hex name."""
    assert errors.status_name(0x0B) == "ESME_RINVDSTADR"
    assert errors.status_name(0x58) == "ESME_RTHROTTLED"
    assert errors.status_name(0x99) == "ESME_0x00000099"


def test_error_for_builds_the_matching_exception():
    """error_for gives an exception of the classified kind, carrying the status name."""
    exc = errors.error_for(0x0E, "bind")
    assert isinstance(exc, errors.Permanent)
    assert exc.status_name == "ESME_RINVPASWD"
    assert isinstance(errors.error_for(0x58), errors.Throttled)
