"""Configuration loading: every mistake stops start-up with file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.configload import ConfigError

REPO = Path(__file__).resolve().parents[2]
MINIMAL = '[smpp]\nsystem_id = "pingjing"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pingjing.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_configuration_is_valid() -> None:
    """conf/pingjing.toml, the documented example, loads as it is."""
    settings = load_settings(REPO / "conf" / "pingjing.toml", env={})
    assert settings.service.timezone == "Asia/Shanghai"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "windw = 5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert "smpp.windw: unknown setting" in str(err.value)


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="smtp: unknown section"):
        load_settings(write(tmp_path, MINIMAL + "[smtp]\nhost = 'x'\n"), env={})


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"smpp\.port: expected an integer, got 'abc'"):
        load_settings(write(tmp_path, MINIMAL + "port = 'abc'\n"), env={})


def test_missing_required_value(tmp_path: Path) -> None:
    """The SMPP account has no usable default: its absence is named."""
    with pytest.raises(ConfigError, match=r"smpp\.system_id"):
        load_settings(write(tmp_path, "[service]\n"), env={})


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_settings(tmp_path / "absent.toml", env={})


def test_invalid_toml_reports_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[smpp\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, env={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """PINGJING_<SECTION>_<KEY> wins over the file, typed like the key."""
    env = {"PINGJING_SMPP_PORT": "2776", "PINGJING_DATABASE_URL": "sqlite:///x.db"}
    settings = load_settings(write(tmp_path, MINIMAL + "port = 2775\n"), env=env)
    assert settings.smpp.port == 2776
    assert settings.database_url == "sqlite:///x.db"


def test_environment_value_of_wrong_type_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PINGJING_SMPP_WINDOW"):
        load_settings(write(tmp_path, MINIMAL), env={"PINGJING_SMPP_WINDOW": "many"})


def test_secret_from_file_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "smpp.secret"
    secret.write_text("s3cr3t\n")
    settings = load_settings(write(tmp_path, MINIMAL + f'password_file = "{secret}"\n'), env={})
    assert settings.smpp.password == "s3cr3t"
    assert "s3cr3t" not in repr(settings.redacted())
    assert "s3cr3t" not in repr(settings.smpp)


def test_wrong_secret_type_does_not_echo_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, MINIMAL + "password = 12345678\n"), env={})
    assert "12345678" not in str(err.value)


def test_secret_from_environment_file(tmp_path: Path) -> None:
    secret = tmp_path / "db.secret"
    secret.write_text("pw")
    env = {
        "PINGJING_DATABASE_URL": "postgresql+psycopg://pingjing@db/pingjing",
        "PINGJING_DATABASE_PASSWORD_FILE": str(secret),
    }
    settings = load_settings(write(tmp_path, MINIMAL), env=env)
    assert settings.database_url == "postgresql+psycopg://pingjing:pw@db/pingjing"


def test_api_tokens_from_a_separate_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        '[[token]]\nname = "dc"\ntoken = "abc"\n'
        '[[token]]\nname = "u"\ntoken = "d"\nunit = "530402000000"\n'
    )
    settings = load_settings(
        write(tmp_path, MINIMAL + f'[http]\ntokens_file = "{tokens}"\n'), env={}
    )
    assert [(t.name, t.unit) for t in settings.http.tokens] == [("dc", ""), ("u", "530402000000")]


def test_bad_time_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"service\.timezone"):
        load_settings(write(tmp_path, MINIMAL + "[service]\ntimezone = 'Mars/Olympus'\n"), env={})


def test_business_time_zones_follow_the_service_zone(tmp_path: Path) -> None:
    """One `service.timezone` moves sending hours and calling windows together."""
    text = MINIMAL + '[service]\ntimezone = "Asia/Urumqi"\n[callbacks]\ntimezone = "UTC"\n'
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.survey.timezone == "Asia/Urumqi"
    assert settings.callbacks.timezone == "UTC"  # set explicitly: kept


def test_claim_lease_shorter_than_a_call_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + "[callbacks]\nclaim_lease_seconds = 600.0\n"
    with pytest.raises(ConfigError, match=r"callbacks\.claim_lease_seconds: must exceed"):
        load_settings(write(tmp_path, text), env={})


def test_section_error_names_the_section_once(tmp_path: Path) -> None:
    """A section-wide validation error reads "callbacks: retry_delays_minutes[0]=...", not
    "callbacks: callbacks: ..."."""
    path = write(tmp_path, MINIMAL + "[callbacks]\nretry_delays_minutes = [0.0]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert "callbacks: retry_delays_minutes[0]=0.0" in str(err.value)
    assert "callbacks: callbacks:" not in str(err.value)


def test_receipt_time_zone_is_checked(tmp_path: Path) -> None:
    """smpp.receipt_timezone must name a time zone."""
    path = write(tmp_path, MINIMAL + 'receipt_timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match=r"smpp\.receipt_timezone: unknown time zone"):
        load_settings(path, env={})
