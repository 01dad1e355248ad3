"""The fake Asterisk's AGI side on its own: exact reply lines, and the subprocess runner."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.fakes.agi_asterisk import (
    DEAD,
    INVALID,
    AgiPeer,
    HangUp,
    HangUpBetween,
    Press,
    Silence,
    Speak,
    run_agi,
    wav_bytes,
)

ESC = '"0123456789*#"'


def test_get_variable_set_and_unset() -> None:
    """GET VARIABLE: result=1 (value) when set, result=0 when not."""
    peer = AgiPeer(script=[], variables={"A": "7"})
    assert peer.reply('GET VARIABLE "A"') == "200 result=1 (7)"
    assert peer.reply('GET VARIABLE "B"') == "200 result=0"


def test_an_escape_digit_stops_the_prompt() -> None:
    """A barge-in key in the escape set is returned as its ASCII code."""
    peer = AgiPeer(script=[Press("3", barge=True)])
    assert peer.reply(f"STREAM FILE pingjing/menu {ESC} 0").startswith("200 result=51 endpos=")


def test_a_key_not_in_the_escape_set_is_discarded_during_the_prompt() -> None:
    """Barge-in with a non-escape key: the prompt plays on and the key is gone."""
    peer = AgiPeer(script=[Press("3", barge=True), Silence()])
    assert peer.reply('STREAM FILE pingjing/record "" 0') == "200 result=0 endpos=96000"
    assert peer.reply("WAIT FOR DIGIT 5000") == "200 result=0"


def test_a_key_after_the_prompt_waits_for_the_next_read() -> None:
    """Not barge-in: the prompt plays to the end, WAIT FOR DIGIT gets the key."""
    peer = AgiPeer(script=[Press("#")])
    assert peer.reply(f"STREAM FILE pingjing/menu {ESC} 0") == "200 result=0 endpos=96000"
    assert peer.reply("WAIT FOR DIGIT 5000") == "200 result=35"


def test_get_data_reports_timeout_like_asterisk() -> None:
    """GET DATA adds (timeout), with or without digits."""
    peer = AgiPeer(script=[Press("1"), Silence()])
    assert peer.reply("GET DATA pingjing/menu 5000 1") == "200 result=1 (timeout)"
    assert peer.reply("GET DATA pingjing/menu 5000 1") == "200 result= (timeout)"


def test_hangup_during_a_wait_is_result_minus_one_then_sighup() -> None:
    """result=-1, a SIGHUP to send, and 511 for channel commands afterwards."""
    peer = AgiPeer(script=[HangUp()])
    assert peer.reply("WAIT FOR DIGIT 5000") == "200 result=-1"
    assert peer.send_sighup
    assert peer.reply("ANSWER") == DEAD
    assert peer.reply('VERBOSE "x" 1') == "200 result=1"
    assert peer.reply('SET VARIABLE "R" "hangup"') == "200 result=1"


def test_hangup_while_recording_leaves_a_partial_file(tmp_path: Path) -> None:
    """result=-1 (hangup) endpos=N and the partial WAV on disk."""
    peer = AgiPeer(script=[HangUp(after_ms=1000, during="record")])
    reply = peer.reply(f'RECORD FILE "{tmp_path}/m" wav "#" 60000 0 beep s=5')
    assert reply == "200 result=-1 (hangup) endpos=8000"
    assert (tmp_path / "m.wav").read_bytes() == wav_bytes(1000)


def test_record_ended_by_hash_trims_and_reports_dtmf(tmp_path: Path) -> None:
    """'#' gives result=35 (dtmf) and a file 0.2 s shorter."""
    peer = AgiPeer(script=[Speak(2000, end="#")])
    reply = peer.reply(f'RECORD FILE "{tmp_path}/m" wav "#" 60000 0 beep s=5')
    assert reply == "200 result=35 (dtmf) endpos=14400"
    assert (tmp_path / "m.wav").stat().st_size == 44 + 2 * 8 * 1800


def test_record_with_no_caller_audio_is_an_empty_file_after_the_maximum(tmp_path: Path) -> None:
    """Nobody speaks: (timeout) and a 44-byte WAV, as measured."""
    peer = AgiPeer(script=[])
    reply = peer.reply(f'RECORD FILE "{tmp_path}/m" wav "#" 60000 0 beep s=5')
    assert reply == "200 result=0 (timeout) endpos=0"
    assert (tmp_path / "m.wav").stat().st_size == 44


def test_unknown_and_short_commands() -> None:
    """510 for an unknown command, 520 usage for missing arguments."""
    peer = AgiPeer(script=[])
    assert peer.reply("FROBNICATE") == INVALID
    assert peer.reply("STREAM FILE").startswith("520-Invalid command syntax")


def test_missing_sound_is_result_minus_one_on_a_live_channel() -> None:
    """A prompt file that does not exist: result=-1 endpos=0, the channel stays alive."""
    peer = AgiPeer(script=[], missing_sounds=frozenset({"pingjing/menu"}))
    assert peer.reply(f"STREAM FILE pingjing/menu {ESC} 0") == "200 result=-1 endpos=0"
    assert peer.reply("ANSWER") == "200 result=0"


def test_hangup_between_commands_modes() -> None:
    """Between commands: SIGHUP by default, nothing with a late signal, closed pipes on exit."""
    now = AgiPeer(script=[HangUpBetween()])
    now.between_commands()
    assert (now.dead, now.send_sighup, now.close) == (True, True, False)
    late = AgiPeer(script=[HangUpBetween(sighup=False)])
    late.between_commands()
    assert (late.dead, late.send_sighup) == (True, False)
    gone = AgiPeer(script=[HangUpBetween()], on_hangup="exit")
    gone.between_commands()
    assert gone.close


def test_runner_writes_headers_and_relays_replies(tmp_path: Path) -> None:
    """A minimal AGI program sees the headers and gets the reply to its command."""
    program = tmp_path / "agi.py"
    program.write_text(
        "import sys\n"
        "env = {}\n"
        "for line in sys.stdin:\n"
        "    if line == '\\n': break\n"
        "    k, v = line.rstrip('\\n').split(': ', 1); env[k] = v\n"
        "print('GET VARIABLE \"X\"', flush=True)\n"
        "reply = sys.stdin.readline().strip()\n"
        "sys.stderr.write(env['agi_uniqueid'] + '|' + reply)\n"
    )
    s = run_agi(
        AgiPeer(script=[], variables={"X": "42"}),
        channel_id="pj-1-z",
        command=[sys.executable, str(program)],
        timeout=10,
    )
    assert s.exit_code == 0
    assert s.stderr == "pj-1-z|200 result=1 (42)"
    assert s.commands == ['GET VARIABLE "X"']
