"""The callback conversation against a scripted fake channel (no AGI, no Asterisk)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ivr.flow import (
    ALL_KEYS,
    CallbackFlow,
    CallResult,
    ChannelError,
    ChannelHangup,
    FlowSettings,
    RecordingInfo,
)


@dataclass(frozen=True)
class Key:
    digit: str
    barge: bool = False  # pressed during the prompt


@dataclass(frozen=True)
class Silent:
    pass


@dataclass(frozen=True)
class HangUp:
    at: str = "any"  # "record": only once RECORD FILE runs


@dataclass(frozen=True)
class Speak:
    press_hash: bool = True


@dataclass(frozen=True)
class Refuse:
    message: str


class FakeChannel:
    """Consumes the caller's script at each command that reads the channel."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.played: list[str] = []
        self.calls: list[tuple] = []
        self.hung_up = False

    def _peek(self) -> object | None:
        return self.script[0] if self.script else None

    def answer(self) -> None:
        self.calls.append(("answer",))

    def play(self, sound: str, escape_digits: str) -> str:
        self.calls.append(("play", sound, escape_digits))
        nxt = self._peek()
        if isinstance(nxt, Refuse):
            self.script.pop(0)
            raise ChannelError(nxt.message)
        if isinstance(nxt, HangUp) and nxt.at == "any":
            self.script.pop(0)
            raise ChannelHangup()
        self.played.append(sound.split("/")[-1])
        if isinstance(nxt, Key) and nxt.barge and nxt.digit in escape_digits:
            self.script.pop(0)
            return nxt.digit
        return ""

    def wait_digit(self, timeout_ms: int) -> str:
        self.calls.append(("wait", timeout_ms))
        nxt = self.script.pop(0) if self.script else Silent()
        if isinstance(nxt, HangUp):
            raise ChannelHangup()
        if isinstance(nxt, Key):
            return nxt.digit
        return ""

    def record(self, path, fmt, escape_digits, max_ms, silence_s, beep) -> str:
        self.calls.append(("record", path, fmt, escape_digits, max_ms, silence_s, beep))
        nxt = self.script.pop(0) if self.script else Speak(press_hash=False)
        if isinstance(nxt, HangUp):
            raise ChannelHangup()
        return "dtmf" if nxt.press_hash else "timeout"

    def hangup(self) -> None:
        self.calls.append(("hangup",))
        self.hung_up = True


def describe(path: str, partial: bool) -> RecordingInfo:
    return RecordingInfo(
        path=path + ".wav", seconds=3.0, bytes=48044, sha256="ab" * 32, partial=partial
    )


def run(channel: FakeChannel, **kw) -> CallResult:
    flow = CallbackFlow(
        channel,
        CallResult(callback_id=7, attempt_id=9),
        FlowSettings(),
        recording_path="/rec/cb7-a9",
        describe_recording=describe,
        now=lambda: "2026-11-28T03:00:00+00:00",
        **kw,
    )
    return flow.run()


def test_a_complete_call_collects_every_answer() -> None:
    """Confirm 1, reason 2, a message ended by #, consent 1: completed with all of it."""
    ch = FakeChannel(Key("1"), Key("2"), Speak(), Key("1"))
    r = run(ch)
    assert (r.ended_how, r.confirmed, r.reason_key, r.reason, r.consent) == (
        "completed",
        True,
        "2",
        "efficiency",
        True,
    )
    assert r.recording is not None and not r.recording.partial
    assert ch.played == ["greeting", "confirm", "menu", "record", "consent", "thanks"]
    assert ch.hung_up


def test_menus_play_with_every_key_as_escape_digit() -> None:
    """Prompts that ask for a key stop on any key, so wrong keys can be noticed."""
    ch = FakeChannel(Key("1"), Key("2"), Speak(), Key("1"))
    run(ch)
    menu = [c for c in ch.calls if c[0] == "play" and c[1].endswith("/menu")]
    assert menu[0][2] == ALL_KEYS


def test_the_digit_timeout_is_passed_explicitly() -> None:
    """WAIT FOR DIGIT gets the configured 5 s, never pyst2's 2 s default."""
    ch = FakeChannel(Key("1"), Key("2"), Speak(), Key("1"))
    run(ch)
    assert {c[1] for c in ch.calls if c[0] == "wait"} == {5000}


def test_recording_is_asked_with_hash_max_and_silence() -> None:
    """RECORD FILE: '#' ends it, 60 s maximum, 5 s of silence, wav, with a beep."""
    ch = FakeChannel(Key("1"), Key("2"), Speak(), Key("1"))
    run(ch)
    (rec,) = [c for c in ch.calls if c[0] == "record"]
    assert rec[1:] == ("/rec/cb7-a9", "wav", "#", 60_000, 5, True)


def test_a_key_pressed_during_the_greeting_counts() -> None:
    """Barge-in: 1 during the greeting confirms without waiting for the confirm prompt."""
    ch = FakeChannel(Key("1", barge=True), Key("3"), Speak(), Key("2"))
    r = run(ch)
    assert r.confirmed is True
    assert ch.played[:2] == ["greeting", "menu"]
    assert (r.reason_key, r.consent) == ("3", False)


def test_wrong_person_says_goodbye_and_asks_nothing_more() -> None:
    """2 at the confirmation: wrong_person, the goodbye prompt, hang up."""
    ch = FakeChannel(Key("2"))
    r = run(ch)
    assert (r.ended_how, r.confirmed, r.reason_key) == ("wrong_person", False, None)
    assert ch.played[-1] == "goodbye_wrong_person"
    assert ch.hung_up


def test_a_wrong_key_is_said_and_the_menu_repeated() -> None:
    """7 in the reason menu: 'invalid', the menu again, then 4 is taken."""
    ch = FakeChannel(Key("1"), Key("7"), Key("4"), Speak(), Key("1"))
    r = run(ch)
    assert r.reason_key == "4"
    assert r.wrong_keys == 1
    assert ch.played[2:5] == ["menu", "invalid", "menu"]


def test_wrong_keys_three_times_end_as_no_input() -> None:
    """Three wrong keys: 'invalid' twice (not after the last), then no_input and goodbye."""
    ch = FakeChannel(Key("1"), Key("9"), Key("0"), Key("*"))
    r = run(ch)
    assert (r.ended_how, r.confirmed, r.reason_key, r.wrong_keys) == ("no_input", True, None, 3)
    assert ch.played.count("invalid") == 2
    assert ch.played[-1] == "goodbye_no_input"


def test_silence_three_times_ends_as_no_input() -> None:
    """No key at all: 'no_input' said twice, three menus, then no_input."""
    ch = FakeChannel(Silent(), Silent(), Silent())
    r = run(ch)
    assert (r.ended_how, r.confirmed, r.missed_keys) == ("no_input", None, 3)
    assert ch.played.count("no_input") == 2
    assert ch.played.count("confirm") == 3
    assert ch.played.count("greeting") == 1


def test_a_key_pressed_during_the_invalid_prompt_is_the_next_answer() -> None:
    """The citizen corrects themselves while we say 'invalid': no need to replay the menu."""
    ch = FakeChannel(Key("1"), Key("8"), Key("5", barge=True), Speak(), Key("1"))
    r = run(ch)
    assert r.reason_key == "5"
    assert ch.played[2:4] == ["menu", "invalid"]
    assert ch.played[4] == "record"


def test_hangup_in_the_menu_keeps_the_confirmation() -> None:
    """Hang up at the reason menu: ended hangup, confirmed kept, no reason, no recording."""
    ch = FakeChannel(Key("1"), HangUp())
    r = run(ch)
    assert (r.ended_how, r.confirmed, r.reason_key, r.recording) == ("hangup", True, None, None)


def test_hangup_while_recording_keeps_the_partial_recording() -> None:
    """Hang up in RECORD FILE: the reason and the partial file are kept, marked partial."""
    ch = FakeChannel(Key("1"), Key("1"), HangUp(at="record"))
    r = run(ch)
    assert (r.ended_how, r.reason_key) == ("hangup", "1")
    assert ch.played[-1] == "record"
    assert r.recording is not None and r.recording.partial


def test_hangup_during_the_thanks_is_still_completed() -> None:
    """Everything answered, then the citizen hangs up while we thank them: completed."""
    ch = FakeChannel(Key("1"), Key("1"), Speak(), Key("2"), HangUp())
    r = run(ch)
    assert (r.ended_how, r.consent) == ("completed", False)


def test_no_key_at_consent_still_completes_without_consent() -> None:
    """Consent unanswered three times: the reason stands, consent stays unknown."""
    ch = FakeChannel(Key("1"), Key("3"), Speak(), Silent(), Silent(), Silent())
    r = run(ch)
    assert (r.ended_how, r.reason_key, r.consent) == ("completed", "3", None)


def test_a_record_timeout_moves_on_to_consent() -> None:
    """A message ended by silence/maximum (pyst2's '\\x00') is fine: consent follows."""
    ch = FakeChannel(Key("1"), Key("3"), Speak(press_hash=False), Key("1"))
    r = run(ch)
    assert "record:timeout" in r.steps
    assert r.consent is True


def test_non_responders_are_asked_the_rating_first() -> None:
    """ask_rating: 3 (不满意) is stored as 'unsatisfied' and the reason menu follows."""
    ch = FakeChannel(Key("1"), Key("3"), Key("2"), Speak(), Key("1"))
    r = run(ch, ask_rating=True)
    assert (r.rating, r.reason_key, r.ended_how) == ("unsatisfied", "2", "completed")
    assert ch.played[2] == "rating"


def test_a_satisfied_non_responder_is_thanked_without_the_reason_menu() -> None:
    """Rating 1 completes the call: there is no dissatisfaction to ask about."""
    ch = FakeChannel(Key("1"), Key("1"))
    r = run(ch, ask_rating=True)
    assert (r.rating, r.reason_key, r.ended_how) == ("satisfied", None, "completed")
    assert "menu" not in ch.played


def test_a_refused_command_ends_as_error_keeping_what_was_said() -> None:
    """A live channel refusing a prompt (missing file) ends as error, with the message."""
    ch = FakeChannel(Key("1"), Refuse("STREAM FILE pingjing/menu failed"))
    r = run(ch)
    assert (r.ended_how, r.confirmed) == ("error", True)
    assert "pingjing/menu" in (r.error or "")
    assert ch.hung_up


def test_an_unexpected_exception_is_a_result_not_a_crash() -> None:
    """A bug in a channel adapter still yields a result with ended_how error."""

    class Broken(FakeChannel):
        def wait_digit(self, timeout_ms: int) -> str:
            raise RuntimeError("adapter bug")

    r = run(Broken())
    assert r.ended_how == "error"
    assert "RuntimeError: adapter bug" in (r.error or "")


def test_result_json_round_trips() -> None:
    """A result written to the spool reads back equal."""
    r = run(FakeChannel(Key("1"), Key("2"), Speak(), Key("1")))
    assert CallResult.from_json(r.to_json()) == r


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"v": 99}, "version"),
        ({"attempt_id": "9"}, "attempt_id"),
        ({"ended_how": "exploded"}, "ended_how"),
        ({"surprise": 1}, "surprise"),
        ({"recording": {"path": "x"}}, "recording"),
    ],
)
def test_a_malformed_result_names_the_field(change: dict, named: str) -> None:
    """from_json refuses bad data with the offending field in the message."""
    data = CallResult(callback_id=1, attempt_id=2, ended_how="hangup").to_json()
    data.update(change)
    with pytest.raises(ValueError, match=named):
        CallResult.from_json(data)
