"""The evaluation line's conversation against the scripted fake channel of the callback tests."""

from __future__ import annotations

import pytest

from ivr.conversation import FlowSettings
from ivr.inbound_flow import InboundFlow, InboundResult
from tests.ivr.test_flow import FakeChannel, HangUp, Key, Silent, Speak, describe

CODE = "000425"  # what the directory below knows (the check digit is the directory's business)


class Directory:
    def __init__(self, by_phone: dict[str, list[int]] | None = None, codes=None) -> None:
        self.phones = by_phone or {}
        self.codes = codes or {CODE: 42}
        self.asked: list[tuple[str, str]] = []

    def by_phone(self, phone: str) -> list[int]:
        self.asked.append(("phone", phone))
        return self.phones.get(phone, [])

    def by_code(self, code: str) -> int | None:
        self.asked.append(("code", code))
        return self.codes.get(code)


CALLER = "13812345678"


def run(ch: FakeChannel, directory: Directory | None = None, caller=CALLER, **kw) -> InboundResult:
    flow = InboundFlow(
        ch,
        InboundResult(channel_id="line-1", caller=caller),
        FlowSettings(),
        directory or Directory(),
        code_length=len(CODE),
        recording_path="/rec/line-1",
        describe_recording=describe,
        now=lambda: "2026-12-03T03:00:00+00:00",
        **kw,
    )
    return flow.run()


def keys(digits: str) -> list[Key]:
    return [Key(d) for d in digits]


def test_a_recognised_caller_with_one_survey_rates_it_at_once() -> None:
    """One open survey for the number: welcome + rating, 1 is 满意, thanks, hang up."""
    ch = FakeChannel(Key("1"))
    r = run(ch, Directory({CALLER: [7]}))
    assert (r.ended_how, r.survey_id, r.found_by, r.rating) == (
        "completed",
        7,
        "phone",
        "satisfied",
    )
    assert ch.played == ["line_welcome", "rating", "line_thanks"]
    assert ch.hung_up


def test_an_unsatisfied_caller_goes_on_to_reason_message_and_consent() -> None:
    """3: the callback's reason menu, the voice message and the consent question follow."""
    ch = FakeChannel(Key("3"), Key("2"), Speak(), Key("1"))
    r = run(ch, Directory({CALLER: [7]}))
    assert (r.rating, r.reason_key, r.reason, r.consent) == ("unsatisfied", "2", "efficiency", True)
    assert r.recording is not None and r.recording.path == "/rec/line-1.wav"
    assert not r.recording.partial
    assert ch.played == ["line_welcome", "rating", "menu", "record", "consent", "thanks"]


def test_several_surveys_one_takes_the_most_recent() -> None:
    """Several open surveys: 1 rates the most recent (the directory lists oldest first)."""
    ch = FakeChannel(Key("1"), Key("2"))
    r = run(ch, Directory({CALLER: [5, 9]}))
    assert (r.survey_id, r.found_by, r.rating) == (9, "choice", "basically_satisfied")
    assert ch.played[:3] == ["line_welcome", "line_several", "rating"]


def test_several_surveys_two_lets_the_caller_enter_the_code() -> None:
    """2, then the six keys of the code: the survey the code names is rated."""
    ch = FakeChannel(Key("2"), *keys(CODE), Key("1"))
    r = run(ch, Directory({CALLER: [5, 9]}))
    assert (r.survey_id, r.found_by, r.rating) == (42, "code", "satisfied")
    assert ch.played == ["line_welcome", "line_several", "code", "rating", "line_thanks"]


def test_a_code_may_end_with_hash_and_star_starts_it_again() -> None:
    """'12*' clears what was typed; a '#' after the full code is not needed but harmless."""
    d = Directory()
    ch = FakeChannel(Key("1"), *keys("12*"), *keys(CODE), Key("3"), Key("5"), Speak(), Key("2"))
    r = run(ch, d, caller=None)
    assert (r.survey_id, r.found_by, r.rating, r.consent) == (42, "code", "unsatisfied", False)
    assert ("code", CODE) in d.asked


def test_a_short_code_ended_by_hash_is_wrong_and_asked_again() -> None:
    """'123#' is not a code: 'code_invalid', the prompt again, then the right code."""
    ch = FakeChannel(Key("1"), *keys("123#"), *keys(CODE), Key("1"))
    r = run(ch, Directory(), caller=None)
    assert r.survey_id == 42 and r.wrong_keys == 1
    assert ch.played[:5] == ["line_welcome", "line_none", "code", "code_invalid", "code"]


def test_a_code_naming_no_open_survey_three_times_ends_without_a_survey() -> None:
    """Three unknown codes: said twice, then 'no survey found' and hang up; nothing rated."""
    ch = FakeChannel(Key("1"), *keys("999999"), *keys("888888"), *keys("777777"))
    r = run(ch, Directory(), caller=None)
    assert (r.ended_how, r.survey_id, r.rating, r.wrong_keys) == ("no_survey", None, None, 3)
    assert ch.played.count("code_invalid") == 2
    assert ch.played[-1] == "line_no_survey"


def test_an_unknown_caller_may_leave_a_complaint() -> None:
    """No survey for the number: 2 is a complaint, a category and a voice message."""
    ch = FakeChannel(Key("2"), Key("3"), Speak())
    r = run(ch, Directory())
    assert (r.ended_how, r.complaint_key, r.complaint, r.survey_id) == (
        "completed",
        "3",
        "misconduct",
        None,
    )
    assert r.recording is not None
    assert ch.played == [
        "line_welcome",
        "line_none",
        "complaint_menu",
        "record",
        "complaint_thanks",
    ]


def test_a_withheld_number_is_not_looked_up() -> None:
    """No caller ID: straight to 'enter the code or complain', the directory not asked by number."""
    d = Directory({CALLER: [7]})
    ch = FakeChannel(Key("2"), Key("4"), Speak(press_hash=False))
    r = run(ch, d, caller=None)
    assert "caller:withheld" in r.steps
    assert not [a for a in d.asked if a[0] == "phone"]
    assert r.complaint == "other"


def test_the_rating_menu_handles_wrong_and_missing_keys_like_the_callback() -> None:
    """7 then nothing then 2: 'invalid', 'no_input', the rating taken on the third try."""
    ch = FakeChannel(Key("7"), Silent(), Key("2"))
    r = run(ch, Directory({CALLER: [7]}))
    assert (r.rating, r.wrong_keys, r.missed_keys) == ("basically_satisfied", 1, 1)
    assert ch.played[:6] == ["line_welcome", "rating", "invalid", "rating", "no_input", "rating"]


def test_no_key_at_all_ends_as_no_input() -> None:
    ch = FakeChannel(Silent(), Silent(), Silent())
    r = run(ch, Directory({CALLER: [7]}))
    assert (r.ended_how, r.rating, r.missed_keys) == ("no_input", None, 3)
    assert ch.played[-1] == "line_no_input"


def test_a_key_pressed_during_the_welcome_answers_the_first_menu() -> None:
    """Barge-in on the welcome (played while the surveys are looked up): 2 is the rating."""
    ch = FakeChannel(Key("2", barge=True))
    r = run(ch, Directory({CALLER: [7]}))
    assert (r.rating, ch.played) == ("basically_satisfied", ["line_welcome", "line_thanks"])


def test_a_failing_lookup_offers_the_code_and_the_complaint() -> None:
    """The database is down: no survey by number, the error noted, the caller may complain."""

    class Down(Directory):
        def by_phone(self, phone: str) -> list[int]:
            raise OSError("connection refused by postgresql://u:secret@db/x")

    r = run(FakeChannel(Key("2"), Key("1"), Speak()), Down())
    assert (r.complaint, r.ended_how) == ("attitude", "completed")
    assert "survey lookup failed" in (r.error or "") and "secret" not in (r.error or "")


def test_busy_line_says_call_later_and_asks_nothing() -> None:
    """Every line taken: 'please call later', hang up, the directory never asked."""
    d = Directory({CALLER: [7]})
    ch = FakeChannel()
    r = run(ch, d, busy=True)
    assert (r.ended_how, r.busy) == ("busy", True)
    assert ch.played == ["line_busy"] and ch.hung_up
    assert d.asked == []


@pytest.mark.parametrize(
    ("script", "kept"),
    [
        ([HangUp()], {"survey_id": None, "rating": None}),
        ([Silent(), HangUp()], {"survey_id": 7, "rating": None}),
        ([Key("3"), HangUp()], {"rating": "unsatisfied", "reason_key": None}),
        ([Key("3"), Key("1"), HangUp(at="record")], {"reason_key": "1", "consent": None}),
        ([Key("3"), Key("1"), Speak(), HangUp()], {"reason_key": "1", "consent": None}),
    ],
    ids=["at-welcome", "at-rating", "at-reason", "in-recording", "at-consent"],
)
def test_a_hangup_at_each_step_keeps_what_was_said(script, kept) -> None:
    """The caller hangs up: ended_how is hangup and every answer given so far is kept."""
    r = run(FakeChannel(*script), Directory({CALLER: [7]}))
    assert r.ended_how == "hangup"
    assert {k: getattr(r, k) for k in kept} == kept


def test_a_hangup_in_the_recording_keeps_the_partial_message() -> None:
    r = run(FakeChannel(Key("3"), Key("1"), HangUp(at="record")), Directory({CALLER: [7]}))
    assert r.recording is not None and r.recording.partial


def test_a_hangup_while_entering_the_code_names_no_survey() -> None:
    r = run(FakeChannel(Key("1"), *keys("12"), HangUp()), Directory(), caller=None)
    assert (r.ended_how, r.survey_id) == ("hangup", None)


def test_a_hangup_in_the_complaint_menu() -> None:
    r = run(FakeChannel(Key("2"), HangUp()), Directory())
    assert (r.ended_how, r.complaint_key) == ("hangup", None)
