"""How the AGI script reads its configuration: cheaply, and never failing a live call over it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ivr.agi_callback import database_url, load_ivr_config
from ivr.settings import IvrSettings


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pingjing.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_ivr_section_and_data_dir_are_read(tmp_path: Path) -> None:
    """[ivr] keys and service.data_dir come from the file; paths derive from data_dir."""
    path = write(tmp_path, '[service]\ndata_dir = "/srv/pj"\n[ivr]\ndigit_timeout_ms = 6000\n')
    cfg = load_ivr_config(path, {})
    assert (cfg.ivr.digit_timeout_ms, cfg.data_dir, cfg.problems) == (6000, "/srv/pj", [])
    assert str(cfg.ivr.spool_path(cfg.data_dir)) == "/srv/pj/agi-spool"
    assert str(cfg.ivr.recordings_path(cfg.data_dir)) == "/srv/pj/recordings"


def test_environment_overrides_like_the_daemon(tmp_path: Path) -> None:
    """PINGJING_IVR_* and PINGJING_SERVICE_DATA_DIR override the file, as for the daemon."""
    path = write(tmp_path, "[ivr]\nmax_tries = 3\n")
    cfg = load_ivr_config(
        path, {"PINGJING_IVR_MAX_TRIES": "2", "PINGJING_SERVICE_DATA_DIR": "/tmp/x"}
    )
    assert (cfg.ivr.max_tries, cfg.data_dir) == (2, "/tmp/x")


def test_a_broken_file_falls_back_to_defaults_and_says_why(tmp_path: Path) -> None:
    """Invalid TOML: the call still runs on defaults; the problem names the file."""
    path = write(tmp_path, "[ivr\n")
    cfg = load_ivr_config(path, {})
    assert cfg.ivr == IvrSettings()
    assert cfg.problems and path in cfg.problems[0]


def test_a_bad_ivr_value_falls_back_and_names_the_key(tmp_path: Path) -> None:
    """A digit timeout shorter than callers need is reported with its key."""
    path = write(tmp_path, "[ivr]\ndigit_timeout_ms = 500\n")
    cfg = load_ivr_config(path, {})
    assert cfg.ivr.digit_timeout_ms == 5000
    assert "ivr.digit_timeout_ms" in cfg.problems[0]


def test_the_database_url_ignores_unrelated_sections(tmp_path: Path) -> None:
    """An SMPP section the AGI host does not care about cannot block storing a result."""
    path = write(tmp_path, '[service]\ndata_dir = "/srv/pj"\n[smpp]\nsystem_id = ""\n')
    cfg = load_ivr_config(path, {})
    assert database_url(cfg) == "sqlite:////srv/pj/pingjing.sqlite3"


def test_the_database_password_file_is_used(tmp_path: Path) -> None:
    """database.password_file is read, as the daemon does, and lands in the URL."""
    (tmp_path / "pw").write_text("s3cret\n", encoding="utf-8")
    path = write(
        tmp_path,
        f'[database]\nurl = "postgresql+psycopg://pj@db/pj"\npassword_file = "{tmp_path / "pw"}"\n',
    )
    assert database_url(load_ivr_config(path, {})) == "postgresql+psycopg://pj:s3cret@db/pj"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"digit_timeout_ms": 1000}, "ivr.digit_timeout_ms"),
        ({"max_tries": 0}, "ivr.max_tries"),
        ({"record_max_ms": 10}, "ivr.record_max_ms"),
        ({"record_silence_s": 0}, "ivr.record_silence_s"),
        ({"record_format": "mp3"}, "ivr.record_format"),
    ],
)
def test_ivr_settings_validation_names_the_key(change: dict, key: str) -> None:
    """Each out-of-range [ivr] value is refused with its key."""
    with pytest.raises(ValueError, match=key):
        replace(IvrSettings(), **change).validate()
