"""What the daemon logged during the whole test run holds no mobile number and no secret.

``tests/conftest.py`` collects every log event of the session (``tests/logscan.py``) and
orders this test last, so it reads what every integration test before it made the daemon log:
the real SMPP peer, RabbitMQ, PostgreSQL, the HTTP API, the AMI and AGI fakes.
"""

from __future__ import annotations

import pytest

from tests.logscan import SCAN


def test_nothing_the_daemon_logged_holds_a_mobile_number_or_a_secret(
    request: pytest.FixtureRequest,
) -> None:
    if len(request.session.items) == 1:
        pytest.skip("run it with the other tests: it scans what they made the daemon log")
    assert SCAN.lines, "the session's log observer saw nothing: is it installed?"
    assert SCAN.findings() == []
