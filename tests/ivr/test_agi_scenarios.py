"""The real ``pingjing-agi`` program against the fake Asterisk, one caller behaviour per test.

Each test spawns the console script, so these exercise pyst2, the adapter's hangup detection,
the flow, and storing the result (database, or the spool when it is down) end to end.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ivr.spool import ingest_spool, pending_files
from storage.callback_results import session_writer
from tests.fakes.agi_asterisk import (
    AgiPeer,
    HangUp,
    HangUpBetween,
    Press,
    Silence,
    Speak,
    run_agi,
)
from tests.ivr.conftest import CHANNEL_ID, SeededDb

DOWN_URL = "postgresql+psycopg://nobody@127.0.0.1:1/pingjing"


def call(db: SeededDb | None, tmp_path: Path, *script, **peer_kw):
    variables = peer_kw.pop("variables", None)
    if variables is None and db is not None:
        variables = {
            "PINGJING_CALLBACK_ID": str(db.callback_id),
            "PINGJING_ATTEMPT_ID": str(db.attempt_id),
        }
    peer = AgiPeer(script=list(script), variables=variables or {}, **peer_kw)
    env = {
        "PINGJING_SERVICE_DATA_DIR": str(tmp_path / "data"),
        "PINGJING_DATABASE_URL": db.url if db is not None else DOWN_URL,
    }
    session = run_agi(peer, channel_id=CHANNEL_ID, env=env)
    return session


def test_answered_with_keys_and_a_voice_message(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """Confirm, reason 2, a 3 s message ended by #, consent: all stored with the recording."""
    s = call(sqlite_db, tmp_path, Press("1"), Press("2"), Speak(3000), Press("1"))
    assert s.exit_code == 0, s.stderr
    a = sqlite_db.attempt()
    assert (a.confirmed, a.reason_key, a.consent, a.ended_how) == (True, "2", True, "completed")
    rec = a.recording
    data = Path(rec.path).read_bytes()
    assert (rec.duration_seconds, rec.size_bytes, rec.sha256, rec.partial) == (
        2.8,  # '#' trims about 0.2 s
        len(data),
        hashlib.sha256(data).hexdigest(),
        False,
    )


def test_timeouts_are_passed_explicitly(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """WAIT FOR DIGIT 5000 (not pyst2's 2 s) and RECORD FILE with 60 s max and s=5; never
    GET DATA, whose pyst2 default waits 2 s and drops the (timeout) flag."""
    s = call(sqlite_db, tmp_path, Press("1"), Press("2"), Speak(3000), Press("1"))
    assert "WAIT FOR DIGIT 5000" in s.commands
    assert {c for c in s.commands if c.startswith("WAIT FOR DIGIT")} == {"WAIT FOR DIGIT 5000"}
    assert not any(c.startswith("GET DATA") for c in s.commands)
    (rec,) = [c for c in s.commands if c.startswith("RECORD FILE")]
    assert rec.endswith('wav "#" 60000 0 beep s=5')


def test_prompts_are_played_by_file_name_never_as_chinese_text(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """Every command line is ASCII: prompts are sound files, not text arguments."""
    s = call(sqlite_db, tmp_path, Press("1"), Press("2"), Speak(3000), Press("1"))
    assert all(c.isascii() for c in s.commands)
    assert 'STREAM FILE pingjing/greeting "0123456789*#" 0' in s.commands


def test_the_first_command_reads_the_callback_variables(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """The script learns which callback and attempt it is from the Originate's variables."""
    s = call(sqlite_db, tmp_path, Press("2"))
    assert s.commands[:2] == [
        'GET VARIABLE "PINGJING_CALLBACK_ID"',
        'GET VARIABLE "PINGJING_ATTEMPT_ID"',
    ]


def test_wrong_person(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """2 at the confirmation: stored as wrong_person, the goodbye played, then HANGUP."""
    s = call(sqlite_db, tmp_path, Press("2"))
    a = sqlite_db.attempt()
    assert (a.ended_how, a.confirmed) == ("wrong_person", False)
    assert s.commands[-2:] == ['STREAM FILE pingjing/goodbye_wrong_person "" 0', "HANGUP"]


def test_wrong_keys_three_times(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """Three wrong keys in the reason menu: no_input, confirmation kept."""
    call(sqlite_db, tmp_path, Press("1"), Press("8"), Press("9"), Press("0"))
    a = sqlite_db.attempt()
    assert (a.ended_how, a.confirmed, a.reason_key) == ("no_input", True, None)


def test_silence_everywhere_is_no_input(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """Nobody presses anything: three confirm prompts, then no_input."""
    s = call(sqlite_db, tmp_path, Silence(), Silence(), Silence())
    assert sqlite_db.attempt().ended_how == "no_input"
    assert sum(c.startswith("STREAM FILE pingjing/confirm") for c in s.commands) == 3


def test_barge_in_during_the_greeting(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """1 pressed during the greeting stops it and counts as the confirmation."""
    s = call(sqlite_db, tmp_path, Press("1", barge=True), Press("4"), Speak(), Press("2"))
    assert sqlite_db.attempt().reason_key == "4"
    assert not any(c.startswith("STREAM FILE pingjing/confirm") for c in s.commands)


def test_hangup_in_the_menu(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """result=-1 in WAIT FOR DIGIT (pyst2: AGIAppError) + SIGHUP: hangup, confirmation kept."""
    s = call(sqlite_db, tmp_path, Press("1"), HangUp())
    assert s.exit_code == 0, s.stderr
    a = sqlite_db.attempt()
    assert (a.ended_how, a.confirmed, a.reason_key) == ("hangup", True, None)


def test_hangup_during_a_prompt(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """A hangup while STREAM FILE plays (result=-1) ends the call as hangup."""
    call(sqlite_db, tmp_path, HangUp())
    assert sqlite_db.attempt().ended_how == "hangup"


def test_result_minus_one_without_sighup_is_confirmed_by_511(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """AGISIGHUP late: the script probes with ANSWER, gets 511, and knows the line is dead."""
    s = call(sqlite_db, tmp_path, Press("1"), HangUp(), on_hangup="late")
    assert sqlite_db.attempt().ended_how == "hangup"
    assert s.commands[-2:] == ['STREAM FILE pingjing/menu "0123456789*#" 0', "ANSWER"]
    assert s.exit_code == 0


def test_hangup_while_recording_keeps_the_partial_file(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """result=-1 (hangup) in RECORD FILE: reason kept, the partial recording stored as such."""
    call(sqlite_db, tmp_path, Press("1"), Press("3"), HangUp(after_ms=1500, during="record"))
    a = sqlite_db.attempt()
    assert (a.ended_how, a.reason_key) == ("hangup", "3")
    assert a.recording is not None
    assert (a.recording.partial, a.recording.duration_seconds) == (True, 1.5)
    assert Path(a.recording.path).exists()


def test_hangup_between_commands_via_sighup(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """The caller hangs up while the script is in its own code: SIGHUP, then no more commands."""
    s = call(sqlite_db, tmp_path, Press("1"), Press("2"), HangUpBetween())
    a = sqlite_db.attempt()
    assert (a.ended_how, a.reason_key, a.recording) == ("hangup", "2", None)
    assert not any(c.startswith("RECORD FILE") for c in s.commands)
    assert s.exit_code == 0


def test_hangup_between_commands_with_a_late_sighup(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """No signal yet: the next channel command gets 511, which is a hangup too."""
    s = call(sqlite_db, tmp_path, Press("1"), HangUpBetween(sighup=False), on_hangup="late")
    assert s.commands[-1] == 'STREAM FILE pingjing/menu "0123456789*#" 0'
    a = sqlite_db.attempt()
    assert (a.ended_how, a.confirmed) == ("hangup", True)


def test_agisighup_no_means_eof_and_still_a_stored_result(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """With AGISIGHUP=no the pipe closes; pyst2's ValueError is read as a hangup."""
    call(sqlite_db, tmp_path, Press("1"), HangUp(), on_hangup="eof")
    a = sqlite_db.attempt()
    assert (a.ended_how, a.confirmed) == ("hangup", True)


def test_agiexitonhangup_broken_pipe_still_stores(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """With AGIEXITONHANGUP=yes the pipes close at once; the result is still written."""
    call(sqlite_db, tmp_path, Press("1"), Press("5"), HangUpBetween(), on_hangup="exit")
    assert sqlite_db.attempt().reason_key == "5"


def test_a_record_timeout_is_not_a_hangup(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """result=0 (timeout) (pyst2: '\\x00'): the message is kept and consent is asked."""
    call(sqlite_db, tmp_path, Press("1"), Press("1"), Speak(4000, end="silence"), Press("2"))
    a = sqlite_db.attempt()
    assert (a.ended_how, a.consent, a.recording.duration_seconds) == ("completed", False, 4.0)


def test_a_missing_prompt_is_an_error_not_a_hangup(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """result=-1 on a live channel (the ANSWER probe succeeds): ended as error."""
    s = call(sqlite_db, tmp_path, Press("1"), missing_sounds=frozenset({"pingjing/menu"}))
    assert sqlite_db.attempt().ended_how == "error"
    assert "ANSWER" in s.commands[s.commands.index('STREAM FILE pingjing/menu "0123456789*#" 0') :]


def test_non_responder_is_asked_the_rating(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """PINGJING_ASK_RATING=1: the rating menu comes first; 3 is stored as unsatisfied."""
    variables = {
        "PINGJING_CALLBACK_ID": str(sqlite_db.callback_id),
        "PINGJING_ATTEMPT_ID": str(sqlite_db.attempt_id),
        "PINGJING_ASK_RATING": "1",
    }
    call(
        sqlite_db,
        tmp_path,
        Press("1"),
        Press("3"),
        Press("1"),
        Speak(),
        Press("1"),
        variables=variables,
    )
    a = sqlite_db.attempt()
    assert (a.rating, a.reason_key) == ("unsatisfied", "1")


def test_database_down_spools_and_the_daemon_ingests_later(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """DB unreachable during the call: a spool file; ingest_spool later stores it, nothing lost."""
    peer_vars = {
        "PINGJING_CALLBACK_ID": str(sqlite_db.callback_id),
        "PINGJING_ATTEMPT_ID": str(sqlite_db.attempt_id),
    }
    s = call(None, tmp_path, Press("1"), Press("2"), Speak(2000), Press("1"), variables=peer_vars)
    assert s.exit_code == 0
    assert "spooling" in s.stderr
    spool = tmp_path / "data" / "agi-spool"
    assert len(pending_files(spool)) == 1
    assert sqlite_db.attempt().ended_how is None
    report = ingest_spool(spool, session_writer(sqlite_db.sessions))
    assert report.attempt_ids == [sqlite_db.attempt_id]
    a = sqlite_db.attempt()
    assert (a.ended_how, a.reason_key, a.recording.partial) == ("completed", "2", False)


def test_stderr_never_shows_the_callers_number(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """pyst2 prints every header (agi_callerid included); that chatter is not passed on."""
    s = call(sqlite_db, tmp_path, Press("2"))
    assert "13812345678" not in s.stderr
    assert "ended wrong_person" in s.stderr


def test_a_non_utf8_header_byte_does_not_crash(sqlite_db: SeededDb, tmp_path: Path) -> None:
    """A GBK caller name in the headers is decoded with replacement, the call goes on."""
    peer = AgiPeer(
        script=[Press("2")],
        variables={
            "PINGJING_CALLBACK_ID": str(sqlite_db.callback_id),
            "PINGJING_ATTEMPT_ID": str(sqlite_db.attempt_id),
        },
    )
    env = {"PINGJING_SERVICE_DATA_DIR": str(tmp_path), "PINGJING_DATABASE_URL": sqlite_db.url}
    s = run_agi(peer, channel_id=CHANNEL_ID, env=env, extra_header=b"agi_x: \xb9\xab\n")
    assert s.exit_code == 0, s.stderr
    assert sqlite_db.attempt().ended_how == "wrong_person"


@pytest.mark.parametrize("missing", ["PINGJING_ATTEMPT_ID"])
def test_lost_variables_fall_back_to_the_channel_id(
    sqlite_db: SeededDb, tmp_path: Path, missing: str
) -> None:
    """Without the attempt variable the Uniqueid (our ChannelId) still finds the attempt."""
    call(sqlite_db, tmp_path, Press("2"), variables={"PINGJING_CALLBACK_ID": "1"})
    assert sqlite_db.attempt().ended_how == "wrong_person"


def test_an_unwritable_recordings_dir_skips_the_message_not_the_call(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """No place to record: the reason and consent are still asked and stored; the problem noted."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "recordings").write_text("a file, not a directory")
    s = call(sqlite_db, tmp_path, Press("1"), Press("2"), Press("1"))
    a = sqlite_db.attempt()
    assert (a.ended_how, a.reason_key, a.consent, a.recording) == ("completed", "2", True, None)
    assert not any(c.startswith("RECORD FILE") for c in s.commands)
