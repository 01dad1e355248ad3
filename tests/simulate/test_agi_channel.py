"""The sans-IO AGI channel: command lines in, Asterisk 22 replies out (asterisk-facts.md)."""

from __future__ import annotations

import wave

from gateway.simulate.agi import AgiChannel, split_args
from gateway.simulate.audio import write_voice_wav
from gateway.simulate.callees import CallScript, HangUp, Keys, Speak


def channel(*inputs, variables=None, recorder=None, sounds_dir="."):
    written: list[tuple[str, int]] = []

    def record(path: str, ms: int) -> bool:
        written.append((path, ms))
        return True

    ch = AgiChannel(
        env={"agi_uniqueid": "pj-1", "agi_channel": "PJSIP/carrier-00000001"},
        variables=dict(variables or {}),
        script=CallScript(tuple(inputs)),
        recorder=recorder or record,
        sounds_dir=sounds_dir,
    )
    ch.written = written  # type: ignore[attr-defined]
    return ch


def say(ch: AgiChannel, line: str) -> str:
    return ch.feed((line + "\n").encode()).decode().rstrip("\n")


def test_greeting_is_agi_headers_then_a_blank_line():
    """The conversation starts with `agi_*: value` lines and an empty line."""
    ch = channel()
    assert ch.greeting() == b"agi_uniqueid: pj-1\nagi_channel: PJSIP/carrier-00000001\n\n"


def test_get_variable_reads_originate_variables():
    """A channel variable from the Originate is `200 result=1 (value)`; an unset one result=0."""
    ch = channel(variables={"PJ_CALLBACK_ID": "42"})
    assert say(ch, 'GET VARIABLE "PJ_CALLBACK_ID"') == "200 result=1 (42)"
    assert say(ch, "GET VARIABLE NOPE") == "200 result=0"


def test_set_variable_is_readable_afterwards():
    """SET VARIABLE answers result=1 and GET VARIABLE then returns the value."""
    ch = channel()
    assert say(ch, 'SET VARIABLE "PJ_RESULT" "done"') == "200 result=1"
    assert say(ch, "GET VARIABLE PJ_RESULT") == "200 result=1 (done)"


def test_stream_file_plays_to_the_end_without_barge_in():
    """A prompt the caller does not interrupt returns result=0 with an end position."""
    ch = channel(Keys("1"))
    assert say(ch, 'STREAM FILE pj-greeting "0123456789*#" 0') == "200 result=0 endpos=96000"


def test_stream_file_returns_an_escape_digit_when_the_caller_barges_in():
    """A barge-in key in the escape set stops the prompt and comes back as its ASCII code."""
    ch = channel(Keys("1", barge_in=True))
    assert say(ch, 'STREAM FILE pj-greeting "12" 0').startswith("200 result=49 endpos=")


def test_barge_in_key_outside_the_escape_set_waits_for_the_next_read():
    """A key not in the escape set is not taken by the prompt; the next read gets it."""
    ch = channel(Keys("5", barge_in=True))
    assert say(ch, 'STREAM FILE pj-greeting "12" 0') == "200 result=0 endpos=96000"
    assert say(ch, "WAIT FOR DIGIT 5000") == "200 result=53"


def test_wait_for_digit_times_out_with_result_zero_on_a_silent_line():
    """No key pressed: WAIT FOR DIGIT answers result=0."""
    ch = channel()
    assert say(ch, "WAIT FOR DIGIT 5000") == "200 result=0"


def test_get_data_returns_the_digits_when_max_is_reached():
    """GET DATA with max 1 returns the single key at once, no (timeout)."""
    ch = channel(Keys("3"))
    assert say(ch, "GET DATA pj-reasons 5000 1") == "200 result=3"


def test_get_data_reports_timeout_when_the_caller_stops_early():
    """Fewer keys than max and no #: `result=12 (timeout)`; none at all: `result= (timeout)`."""
    ch = channel(Keys("12"))
    assert say(ch, "GET DATA pj-id 5000 4") == "200 result=12 (timeout)"
    assert say(ch, "GET DATA pj-id 5000 4") == "200 result= (timeout)"


def test_get_data_hash_ends_input_and_is_not_returned():
    """The # that ends GET DATA is not part of the result."""
    ch = channel(Keys("12#"))
    assert say(ch, "GET DATA pj-id 5000 4") == "200 result=12"


def test_keys_beyond_max_are_kept_for_the_next_read():
    """Keys pressed ahead are not lost: the next reading command gets them."""
    ch = channel(Keys("13"))
    assert say(ch, "GET DATA pj-confirm 5000 1") == "200 result=1"
    assert say(ch, "WAIT FOR DIGIT 5000") == "200 result=51"


def test_record_file_ended_by_hash_reports_dtmf_and_writes_the_file():
    """RECORD FILE ended by # answers result=35 (dtmf) and asks for <path>.<format>."""
    ch = channel(Speak(3000, press_hash=True))
    reply = say(ch, 'RECORD FILE "/rec/pj-7" wav "#" 60000 0 beep s=5')
    assert reply == "200 result=35 (dtmf) endpos=22400"
    assert ch.written == [("/rec/pj-7.wav", 2800)]  # type: ignore[attr-defined]


def test_record_file_without_hash_ends_in_timeout():
    """A caller who stops talking without # ends with result=0 (timeout)."""
    ch = channel(Speak(2000, press_hash=False))
    assert say(ch, 'RECORD FILE "/rec/x" wav "#" 60000 0 beep s=3').startswith(
        "200 result=0 (timeout) endpos="
    )


def test_relative_recording_paths_land_in_the_sounds_dir():
    """A relative RECORD FILE path is taken under the sounds directory, as Asterisk does."""
    ch = channel(Speak(1000), sounds_dir="/snd")
    say(ch, 'RECORD FILE "rec/a" wav "#" 60000')
    assert ch.written[0][0] == "/snd/rec/a.wav"  # type: ignore[attr-defined]


def test_record_file_into_a_missing_directory_is_a_writefile_error():
    """When the file cannot be written the reply is result=-1 (writefile)."""
    ch = channel(Speak(1000), recorder=lambda path, ms: False)
    assert say(ch, 'RECORD FILE "/nowhere/a" wav "#" 60000') == "200 result=-1 (writefile)"


def test_hangup_during_a_menu_answers_minus_one_and_asks_for_sighup():
    """A callee hanging up during GET DATA: result=-1, the channel is dead, SIGHUP is due."""
    ch = channel(Keys("1"), HangUp())
    say(ch, "GET DATA pj-confirm 5000 1")
    assert say(ch, "GET DATA pj-reasons 5000 1") == "200 result=-1"
    assert not ch.alive and ch.hangup_pending and ch.hung_up_by == "callee"


def test_hangup_during_record_keeps_the_partial_file():
    """Hanging up while recording answers `-1 (hangup) endpos=N` and the file is written."""
    ch = channel(HangUp())
    assert say(ch, 'RECORD FILE "/rec/b" wav "#" 60000').startswith(
        "200 result=-1 (hangup) endpos="
    )
    assert ch.written  # type: ignore[attr-defined]


def test_dead_channel_refuses_channel_commands_with_511_but_verbose_works():
    """After the hangup ANSWER gets 511 while VERBOSE and SET VARIABLE still answer 200."""
    ch = channel(HangUp())
    say(ch, "WAIT FOR DIGIT 5000")
    assert say(ch, "ANSWER").startswith("511 ")
    assert say(ch, 'VERBOSE "still here" 1') == "200 result=1"
    assert say(ch, "SET VARIABLE A b") == "200 result=1"


def test_script_hangup_kills_the_channel():
    """HANGUP from the script answers result=1 and the channel is dead afterwards."""
    ch = channel()
    assert say(ch, "HANGUP") == "200 result=1"
    assert ch.hung_up_by == "script" and say(ch, "ANSWER").startswith("511 ")


def test_unknown_command_is_510():
    """A command Asterisk does not know is `510 Invalid or unknown command`."""
    assert say(channel(), "FROBNICATE now") == "510 Invalid or unknown command"


def test_missing_arguments_get_520_with_the_usage():
    """WAIT FOR DIGIT without a timeout gets the multi-line 520 usage reply."""
    reply = say(channel(), "WAIT FOR DIGIT")
    lines = reply.split("\n")
    assert lines[0].startswith("520-") and lines[-1].startswith("520 ")
    assert "WAIT FOR DIGIT <timeout>" in reply


def test_split_args_honours_quotes_and_backslashes():
    """Arguments split on blanks; quotes group; a backslash escapes."""
    assert split_args('STREAM FILE "a b" "" 0') == ["STREAM", "FILE", "a b", "", "0"]
    assert split_args(r"VERBOSE a\ b") == ["VERBOSE", "a b"]


def test_generated_recording_is_8khz_mono_16bit_wav(tmp_path):
    """The recording writer produces a WAV Asterisk's `wav` format would: 8 kHz, mono, 16-bit."""
    target = tmp_path / "r.wav"
    assert write_voice_wav(str(target), 500)
    with wave.open(str(target)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() == 4000
        assert max(w.readframes(4000)) > 0


def test_recording_writer_refuses_a_missing_directory(tmp_path):
    """No directory, no file: the writer says so instead of raising."""
    assert write_voice_wav(str(tmp_path / "missing" / "r.wav"), 100) is False
