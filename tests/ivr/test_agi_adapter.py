"""The pyst2 adapter with in-memory streams: each reply shape becomes the right Channel event."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from ivr.agi_callback import AgiChannel
from ivr.flow import ChannelError, ChannelHangup

HEADERS = "agi_request: pingjing-agi\nagi_uniqueid: pj-1-x\nagi_callerid: 13812345678\n\n"


def channel(*replies: str) -> tuple[AgiChannel, io.StringIO]:
    from asterisk.agi import AGI

    out = io.StringIO()
    agi = AGI(
        stdin=io.StringIO(HEADERS + "".join(r + "\n" for r in replies)),
        stdout=out,
        stderr=io.StringIO(),
    )
    return AgiChannel(agi), out


def sent(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_a_key_during_a_prompt_is_returned() -> None:
    """STREAM FILE stopped by an escape digit returns that digit."""
    ch, _ = channel("200 result=50 endpos=3000")
    assert ch.play("pingjing/menu", "0123456789*#") == "2"


def test_a_wait_timeout_is_an_empty_key() -> None:
    """WAIT FOR DIGIT result=0 is '' (no key), not an error."""
    ch, out = channel("200 result=0")
    assert ch.wait_digit(5000) == ""
    assert sent(out) == ["WAIT FOR DIGIT 5000"]


def test_record_timeout_nul_is_timeout_and_hash_is_dtmf() -> None:
    """pyst2 gives '\\x00' for (timeout) and '#' for 35: timeout and dtmf."""
    ch, _ = channel("200 result=0 (timeout) endpos=8000", "200 result=35 (dtmf) endpos=8000")
    assert ch.record("/r/x", "wav", "#", 60000, 5, True) == "timeout"
    assert ch.record("/r/x", "wav", "#", 60000, 5, True) == "dtmf"


def test_record_hangup_is_a_hangup() -> None:
    """result=-1 (hangup) in RECORD FILE (AGIResultHangup) is a hangup, no probe needed."""
    ch, out = channel("200 result=-1 (hangup) endpos=12000")
    with pytest.raises(ChannelHangup):
        ch.record("/r/x", "wav", "#", 60000, 5, True)
    assert len(sent(out)) == 1 and ch.dead


def test_result_minus_one_with_the_sighup_flag_is_a_hangup_without_probe() -> None:
    """AGIAppError plus the SIGHUP flag: a hangup, and no further command is written."""
    ch, out = channel("200 result=-1")
    original = ch.agi.get_result

    def hung(*a):
        ch.agi._got_sighup = True  # the signal landed while the command ran
        return original(*a)

    ch.agi.get_result = hung
    with pytest.raises(ChannelHangup):
        ch.wait_digit(5000)
    assert sent(out) == ["WAIT FOR DIGIT 5000"]


def test_result_minus_one_then_511_to_the_probe_is_a_hangup() -> None:
    """AGIAppError without the flag: ANSWER is sent; 511 confirms the hangup."""
    ch, out = channel(
        "200 result=-1", "511 Command Not Permitted on a dead channel or intercept routine"
    )
    with pytest.raises(ChannelHangup):
        ch.play("pingjing/menu", "0123456789*#")
    assert sent(out)[-1] == "ANSWER"


def test_result_minus_one_on_a_live_channel_is_an_error() -> None:
    """AGIAppError but ANSWER succeeds: the channel is alive, the command failed (missing file)."""
    ch, _ = channel("200 result=-1 endpos=0", "200 result=0")
    with pytest.raises(ChannelError, match="pingjing/menu"):
        ch.play("pingjing/menu", "0123456789*#")
    assert not ch.dead


def test_511_is_a_hangup() -> None:
    """A channel command answered 511 (SIGHUP not arrived yet) is a hangup."""
    ch, _ = channel("511 Command Not Permitted on a dead channel or intercept routine")
    with pytest.raises(ChannelHangup):
        ch.answer()


def test_510_is_an_error_naming_the_command() -> None:
    """510 Invalid command is a ChannelError that says which command."""
    ch, _ = channel("510 Invalid or unknown command")
    with pytest.raises(ChannelError, match="WAIT FOR DIGIT"):
        ch.wait_digit(5000)


def test_eof_is_a_hangup() -> None:
    """stdin closed (AGISIGHUP=no): pyst2's ValueError is read as a hangup."""
    ch, _ = channel()
    with pytest.raises(ChannelHangup):
        ch.wait_digit(5000)


@pytest.mark.parametrize(
    "reply",
    ["520 Invalid command syntax", "520-Invalid command syntax.  Proper usage follows:"],
)
def test_input_ending_inside_a_usage_text_is_a_hangup_not_an_endless_read(reply) -> None:
    """pyst2 reads a 520 usage text until a line starting 520; stdin closing first used to
    make it read empty lines for ever, growing without bound."""
    ch, _ = channel(reply, "Usage: WAIT FOR DIGIT <timeout>")
    with pytest.raises(ChannelHangup):
        ch.wait_digit(5000)
    assert ch.hangup_how == "eof"


@pytest.mark.parametrize("reply", ["200 result=abc", "200", "999 what"])
def test_a_reply_that_cannot_be_read_is_an_error_naming_the_command(reply) -> None:
    ch, _ = channel(reply)
    with pytest.raises(ChannelError, match="WAIT FOR DIGIT"):
        ch.wait_digit(5000)


def test_after_a_hangup_nothing_more_is_sent() -> None:
    """Once dead, the adapter refuses commands itself (pyst2 would raise anyway)."""
    ch, out = channel("511 dead")
    with pytest.raises(ChannelHangup):
        ch.answer()
    with pytest.raises(ChannelHangup):
        ch.play("pingjing/thanks", "")
    assert sent(out) == ["ANSWER"]


def test_startup_imports_neither_sqlalchemy_nor_twisted() -> None:
    """Lean start-up: importing the AGI entry point pulls in no heavy library."""
    code = (
        "import sys, ivr.agi_callback, asterisk.agi; "
        "print(sorted(m for m in ('sqlalchemy', 'twisted', 'psycopg') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_entry_point_hands_over_before_any_heavy_import() -> None:
    """``pingjing-agi`` (both modes) reaches the program with neither SQLAlchemy nor Twisted
    loaded: the storage writer is imported only when the call is over, the evaluation line's
    store in a thread while the welcome plays."""
    code = (
        "import sys, ivr.agi_callback as a\n"
        "seen = []\n"
        "heavy = ('sqlalchemy', 'twisted', 'psycopg')\n"
        "a.main = lambda *args, **kw: seen.append([m for m in heavy if m in sys.modules]) or 0\n"
        "import gateway.agi_main as g, ivr.agi_inbound\n"
        "g.main(['']); g.main(['', 'inbound'])\n"
        "print(seen)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[[], []]"


def test_pyst2_raises_exactly_what_asterisk_facts_records() -> None:
    """The adapter relies on pyst2 0.5.1's mapping: ``result=-1`` is AGIAppError (not an
    AGIHangup), ``(hangup)`` is AGIResultHangup, a RECORD FILE timeout is '\\x00', and a
    WAIT FOR DIGIT timeout is ''. Pinned so an upgrade that changes it fails here first."""
    from asterisk import agi as pyst

    ch, _ = channel(
        "200 result=-1",
        "200 result=-1 (hangup) endpos=800",
        "200 result=0 (timeout) endpos=8000",
        "200 result=0",
    )
    with pytest.raises(pyst.AGIAppError) as info:
        ch.agi.wait_for_digit(5000)
    assert not isinstance(info.value, pyst.AGIHangup)
    with pytest.raises(pyst.AGIResultHangup):
        ch.agi.record_file("/r/x", "wav", "#", 60000, 0, "beep", 5)
    assert ch.agi.record_file("/r/x", "wav", "#", 60000, 0, "beep", 5) == "\x00"
    assert ch.agi.wait_for_digit(5000) == ""


def test_sighup_before_a_command_is_a_hangup_and_nothing_is_sent() -> None:
    """After SIGHUP pyst2 refuses every command (AGISIGHUPHangup): a hangup, no write."""
    ch, out = channel("200 result=0")
    ch.agi._got_sighup = True  # what pyst2's own SIGHUP handler does
    with pytest.raises(ChannelHangup):
        ch.play("pingjing/consent", "0123456789*#")
    assert sent(out) == []
    assert (ch.dead, ch.hangup_how) == (True, "sighup")


def test_a_broken_pipe_is_a_hangup() -> None:
    """AGIEXITONHANGUP=yes closes the pipes: pyst2's AGISIGPIPEHangup is a hangup."""
    from asterisk.agi import AGI

    class Closed(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    agi = AGI(stdin=io.StringIO(HEADERS), stdout=Closed(), stderr=io.StringIO())
    ch = AgiChannel(agi)
    with pytest.raises(ChannelHangup):
        ch.wait_digit(5000)
    assert ch.hangup_how == "sigpipe"
