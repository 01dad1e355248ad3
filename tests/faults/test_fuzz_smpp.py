"""The SMPP fuzz run in short: 20,000 generated and mutated PDUs with a fixed seed through the
codec and a bound session (the full run is ``benchmarks/fuzz_smpp.py``, a million inputs), a
Hypothesis property over arbitrary octets with the same checks, and a test of the checker."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_smpp import Logs, ViolationError, fuzz, new_link, run_case
from benchmarks.smpp_fuzzgen import MUTATIONS, Case
from gateway.smpp import codec
from gateway.smpp.session import SmppSession


def test_twenty_thousand_inputs_keep_every_rule():
    """Every mutation class appears; no input breaks a rule (see the run's module doc)."""
    result = fuzz(seed=17, count=20_000)
    assert result.violations == [], result.violations[:3]
    assert set(result.by_class) == set(MUTATIONS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(min_size=1, max_size=120),
        st.binary(max_size=100).map(lambda b: (16 + len(b)).to_bytes(4, "big") + b"\0" * 12 + b),
        st.tuples(st.integers(0, 0x80000200), st.binary(max_size=80)).map(
            lambda t: codec.HEADER.pack(16 + len(t[1]), t[0], 0, 1) + t[1]
        ),
    ),
    st.integers(0, 2**32 - 1),
)
def test_any_octets_between_valid_pdus_are_answered_as_the_codec_reads_them(data, feed_seed):
    """Arbitrary octets, framed or not, between a valid deliver_sm and a valid deliver_sm and
    submit_sm_resp, fed in random splits: the same checks as the fuzz run."""
    with Logs() as logs:
        run_case(new_link(), Case("hypothesis", data), random.Random(feed_seed), logs)


def test_the_checker_reports_a_session_that_does_not_answer(monkeypatch):
    """A session that swallows unreadable requests is caught, with the input's class."""
    monkeypatch.setattr(SmppSession, "_unreadable", lambda self, exc: None)
    result = fuzz(seed=3, count=300)
    classes = {cls for _, cls, _, _ in result.violations}
    assert "unknown command_id" in classes and "TLV repeated" in classes


def test_the_checker_reports_a_lost_pdu():
    """Dropping the valid deliver_sm that follows a bad input is a violation."""
    link = new_link()
    real = link.session.on_deliver
    link.session.on_deliver = lambda pdu: 0 if b"fuzz-after" in pdu.raw else real(pdu)
    bad = codec.HEADER.pack(16, 0x0000FFFF, 0, 5)
    try:
        with Logs() as logs:
            run_case(link, Case("x", bad), random.Random(1), logs)
    except ViolationError as exc:
        assert "lost" in str(exc)
    else:
        raise AssertionError("a lost deliver_sm went unnoticed")
