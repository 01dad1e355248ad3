"""Secrets never leave the process: one redaction function for URLs, endpoints and known values."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from twisted.logger import Logger, LogLevel

from gateway.cli import main
from gateway.config import load_settings
from gateway.configload import ConfigError
from gateway.logs import ScrubbingObserver, build_observer, retry_noise
from gateway.masking import REDACTED, redact_secrets, scrub

DB_URL = "postgresql+psycopg://pj:InlinePw123@127.0.0.1:1/pj"


def test_the_password_of_a_database_url_is_redacted() -> None:
    """User, host, port and database stay readable; only the password goes."""
    assert redact_secrets(DB_URL) == f"postgresql+psycopg://pj:{REDACTED}@127.0.0.1:1/pj"


def test_a_password_with_reserved_characters_is_redacted_whole() -> None:
    """A raw ``@`` or ``/`` inside the password does not leave a tail of it behind."""
    text = redact_secrets("amqp://guest:p@ss/w@rabbit:5672/%2f failed")
    assert text == f"amqp://guest:{REDACTED}@rabbit:5672/%2f failed"


def test_webhook_query_tokens_and_endpoint_passwords_are_redacted() -> None:
    """``token=`` in a query string and ``password=`` in an endpoint string are secrets too."""
    assert redact_secrets("https://hook.example/x?token=abc123&a=1") == (
        f"https://hook.example/x?token={REDACTED}&a=1"
    )
    assert redact_secrets("tls:host=mq:port=5671:password=xyz") == (
        f"tls:host=mq:port=5671:password={REDACTED}"
    )


def test_urls_without_a_password_are_left_alone() -> None:
    """An ``@`` in a path or a user without a password is not a secret."""
    assert redact_secrets("postgresql://pj@db/pj and https://h.example/a@b") == (
        "postgresql://pj@db/pj and https://h.example/a@b"
    )


def test_configured_secrets_are_redacted_wherever_they_appear() -> None:
    """A secret quoted verbatim (an error echoing a bind password) is replaced."""
    assert redact_secrets("bind failed for password hunter2!", ["hunter2"]) == (
        f"bind failed for password {REDACTED}!"
    )


def test_scrub_also_masks_mobile_numbers() -> None:
    assert scrub("closed_at: '13812349876' is bad") == "closed_at: '138****9876' is bad"


def test_config_show_redacts_a_password_inside_the_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``PINGJING_DATABASE_URL`` with a password: ``config show`` prints the URL without it."""
    config = tmp_path / "pingjing.toml"
    config.write_text('[smpp]\nsystem_id = "pingjing"\n', encoding="utf-8")
    monkeypatch.setenv("PINGJING_DATABASE_URL", DB_URL)
    monkeypatch.setenv("PINGJING_AMQP_ENDPOINT", "tcp:host=mq:port=5672:password=Amqp5ecret")
    assert main(["config", "show", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "InlinePw123" not in out and "Amqp5ecret" not in out
    assert f"pj:{REDACTED}@127.0.0.1:1/pj" in out


def test_settings_know_their_secrets_including_url_passwords(tmp_path: Path) -> None:
    """What the log observer redacts: secret fields and passwords found inside URLs."""
    config = tmp_path / "pingjing.toml"
    config.write_text('[smpp]\nsystem_id = "pj"\npassword = "SmppPw9"\n', encoding="utf-8")
    settings = load_settings(config, env={"PINGJING_DATABASE_URL": DB_URL})
    assert {"SmppPw9", "InlinePw123"} <= settings.secret_values()


def test_a_configuration_error_quoting_a_url_does_not_show_its_password() -> None:
    error = ConfigError("pingjing.toml", "database.url", f"cannot use {DB_URL}")
    assert "InlinePw123" not in str(error)


def test_db_upgrade_against_an_unreachable_database_prints_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Which database (password redacted) and why, on one line, exit status 69; no traceback."""
    config = tmp_path / "pingjing.toml"
    config.write_text('[smpp]\nsystem_id = "pingjing"\n', encoding="utf-8")
    monkeypatch.setenv("PINGJING_DATABASE_URL", DB_URL)  # port 1: nothing listens there
    assert main(["db", "upgrade", "--config", str(config)]) == 69
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"pingjing: cannot reach the database postgresql+psycopg://pj:{REDACTED}@"
    )
    assert "Connection refused" in err and "InlinePw123" not in err


def _log_through(observer: object, *args: object, **kwargs: object) -> None:
    Logger(observer=observer).error(*args, **kwargs)  # type: ignore[arg-type]


def test_log_lines_are_scrubbed_of_secrets_and_phones() -> None:
    """Whatever a library writes in a message, the line shows neither the secret nor the phone."""
    seen: list[dict[str, object]] = []
    observer = ScrubbingObserver(seen.append, secrets={"SmppPw9"})
    _log_through(
        observer,
        "connecting {url} as {pw} for {phone}",
        url=DB_URL,
        pw="SmppPw9",
        phone="13812349876",
    )
    text = str(seen[0]["log_text"])
    assert "InlinePw123" not in text and "SmppPw9" not in text and "13812349876" not in text
    assert "138****9876" in text


def test_tracebacks_in_log_lines_are_scrubbed() -> None:
    """A failure's traceback (a driver's error quoting the URL) goes through the scrubbing too."""
    seen: list[dict[str, object]] = []
    observer = ScrubbingObserver(seen.append, secrets=())
    try:
        raise ConnectionError(f"cannot connect to {DB_URL}")
    except ConnectionError:
        Logger(observer=observer).failure("database down")
    text = str(seen[0]["log_text"])
    assert "ConnectionError" in text and "InlinePw123" not in text


def test_client_service_retry_lines_are_kept_for_debug() -> None:
    """``Scheduling retry N to connect ...`` is per-attempt noise at info level and above."""
    event = {
        "log_format": "Scheduling retry {attempt} to connect {endpoint} in {delay} seconds.",
        "log_level": LogLevel.info,
    }
    assert retry_noise(event).name == "no"
    stream = io.StringIO()
    Logger(observer=build_observer("info", stream)).info(
        "Scheduling retry {attempt} to connect {endpoint} in {delay} seconds.",
        attempt=3,
        endpoint="x",
        delay=1.0,
    )
    Logger(observer=build_observer("info", stream)).warn("smpp: link down")
    assert "Scheduling retry" not in stream.getvalue() and "link down" in stream.getvalue()
