"""The real ``pingjing-agi <config> inbound`` against the fake Asterisk, one caller per test:
recognised, several surveys, the code, an unknown caller, a withheld number, unsatisfied with a
voice message, a hangup at each step, a busy line, and a rating by SMS after one by phone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.lines import INBOUND, LinePool
from storage import models as m
from tests.fakes.agi_asterisk import HangUp, Press, Silence, Speak
from tests.ivr.line_support import (
    CALLER,
    LINE_CHANNEL,
    STRANGER,
    LineDb,
    call_line,
    seed_line,
)

DOWN_URL = "postgresql+psycopg://nobody@127.0.0.1:1/pingjing"


@pytest.fixture
def one(tmp_path: Path):
    db = seed_line(f"sqlite:///{tmp_path / 'line.sqlite3'}", surveys=1)
    yield db
    db.engine.dispose()


@pytest.fixture
def two(tmp_path: Path):
    db = seed_line(f"sqlite:///{tmp_path / 'line.sqlite3'}", surveys=2)
    yield db
    db.engine.dispose()


def keys(code: str) -> list[Press]:
    return [Press(d) for d in code]


def test_a_recognised_caller_rates_the_one_open_survey(one: LineDb, tmp_path: Path) -> None:
    """Caller ID finds the survey; 1 is 满意: the survey is rated by phone, the call counted."""
    s = call_line(one, tmp_path, Press("1"))
    assert s.exit_code == 0, s.stderr
    survey = one.survey(one.surveys[0])
    assert (survey.status, survey.rating, survey.rated_via) == ("replied", "satisfied", "phone")
    (call,) = one.calls()
    assert (call.caller, call.survey_id, call.found_by, call.counted) == (
        CALLER,
        survey.id,
        "phone",
        True,
    )
    assert s.commands[-2:] == ['STREAM FILE pingjing/line_thanks "" 0', "HANGUP"]
    assert 'STREAM FILE pingjing/line_welcome "0123456789*#" 0' in s.commands


def test_several_surveys_one_rates_the_most_recent(two: LineDb, tmp_path: Path) -> None:
    s = call_line(two, tmp_path, Press("1"), Press("2"))
    assert s.exit_code == 0, s.stderr
    assert two.survey(two.surveys[1]).rating == "basically_satisfied"
    assert two.survey(two.surveys[0]).rating is None
    assert two.calls()[0].found_by == "choice"


def test_several_surveys_the_code_names_the_older_one(two: LineDb, tmp_path: Path) -> None:
    """2, then the SMS code of the older survey (six keys, WAIT FOR DIGIT each): it is rated."""
    s = call_line(two, tmp_path, Press("2"), *keys(two.codes[0]), Press("2"))
    assert s.exit_code == 0, s.stderr
    assert two.survey(two.surveys[0]).rating == "basically_satisfied"
    assert two.survey(two.surveys[1]).rating is None
    assert two.calls()[0].found_by == "code"
    assert {c for c in s.commands if c.startswith("WAIT FOR DIGIT")} == {"WAIT FOR DIGIT 5000"}


def test_an_unknown_caller_leaves_a_complaint_with_a_message(one: LineDb, tmp_path: Path) -> None:
    """No survey for the number: 2 complaint, 1 服务态度, a message: kept for the inspectorate."""
    s = call_line(one, tmp_path, Press("2"), Press("1"), Speak(2000), caller=STRANGER)
    assert s.exit_code == 0, s.stderr
    (complaint,) = one.rows(m.Complaint)
    assert (complaint.caller, complaint.category_key, complaint.category) == (
        STRANGER,
        "1",
        "attitude",
    )
    assert complaint.status == "open"
    assert complaint.recording_path and Path(complaint.recording_path).exists()
    assert complaint.recording_seconds == 1.8
    (call,) = one.calls()
    assert (call.survey_id, call.ended_how) == (None, "completed")


def test_an_unknown_caller_may_enter_a_code(one: LineDb, tmp_path: Path) -> None:
    """A number with no survey (another phone) but the code of one: that survey is rated."""
    s = call_line(one, tmp_path, Press("1"), *keys(one.codes[0]), Press("1"), caller=STRANGER)
    assert s.exit_code == 0, s.stderr
    assert one.survey(one.surveys[0]).rated_via == "phone"
    assert one.calls()[0].caller == STRANGER


def test_a_withheld_number_is_not_used_even_when_asterisk_passes_it(
    one: LineDb, tmp_path: Path
) -> None:
    """Presentation restricted (0x23): the survey to that number is not found by it; the
    caller enters the code instead."""
    s = call_line(one, tmp_path, Press("1"), *keys(one.codes[0]), Press("1"), callingpres=0x23)
    assert s.exit_code == 0, s.stderr
    (call,) = one.calls()
    assert (call.caller, call.found_by, call.rating) == (None, "code", "satisfied")
    assert 'STREAM FILE pingjing/line_none "0123456789*#" 0' in s.commands


def test_no_caller_id_at_all(one: LineDb, tmp_path: Path) -> None:
    s = call_line(one, tmp_path, Press("2"), Press("4"), Speak(1000), caller="unknown")
    assert s.exit_code == 0, s.stderr
    (complaint,) = one.rows(m.Complaint)
    assert (complaint.caller, complaint.category) == (None, "other")


def test_a_wrong_code_is_said_and_asked_again(one: LineDb, tmp_path: Path) -> None:
    """A code with a wrong digit fails its check: 'code_invalid', then the right one."""
    good = one.codes[0]
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    s = call_line(one, tmp_path, Press("1"), *keys(bad), *keys(good), Press("1"), caller=STRANGER)
    assert s.exit_code == 0, s.stderr
    assert 'STREAM FILE pingjing/code_invalid "" 0' in s.commands
    assert one.survey(one.surveys[0]).rating == "satisfied"


def test_unsatisfied_with_a_voice_message_completes_the_callback(
    one: LineDb, tmp_path: Path
) -> None:
    """3, reason 2, a 3 s message, consent 1: the survey is unsatisfied by phone, and its
    callback is written completed with the answers and the recording (nobody calls back)."""
    s = call_line(one, tmp_path, Press("3"), Press("2"), Speak(3000), Press("1"))
    assert s.exit_code == 0, s.stderr
    survey = one.survey(one.surveys[0])
    assert (survey.rating, survey.rated_via) == ("unsatisfied", "phone")
    (task,) = one.rows(m.CallbackTask)
    assert (task.survey_id, task.status, task.reason_key, task.consent) == (
        survey.id,
        "completed",
        "2",
        True,
    )
    (attempt,) = one.rows(m.CallAttempt)
    assert (attempt.channel_id, attempt.ended_how, attempt.dial_string) == (
        LINE_CHANNEL,
        "completed",
        "inbound",
    )
    assert attempt.recording.duration_seconds == 2.8
    assert Path(attempt.recording.path).exists()
    assert one.calls()[0].call_attempt_id == attempt.id


@pytest.mark.parametrize(
    ("script", "rating", "task_status"),
    [
        ([HangUp()], None, None),
        ([Press("3"), HangUp()], "unsatisfied", "pending"),
        (
            [Press("3"), Press("1"), HangUp(after_ms=1500, during="record")],
            "unsatisfied",
            "completed",
        ),
        ([Press("3"), Press("1"), Speak(2000), HangUp()], "unsatisfied", "completed"),
    ],
    ids=["at-rating", "at-reason", "in-recording", "at-consent"],
)
def test_a_hangup_at_each_step_keeps_what_was_said(
    one: LineDb, tmp_path: Path, script, rating, task_status
) -> None:
    """A rating given before the hangup counts; without the reason the callback still phones
    (pending); with it the callback is done (and a partial message kept)."""
    s = call_line(one, tmp_path, *script)
    assert s.exit_code == 0, s.stderr
    (call,) = one.calls()
    assert call.ended_how == "hangup"
    assert one.survey(one.surveys[0]).rating == rating
    tasks = one.rows(m.CallbackTask)
    assert [t.status for t in tasks] == ([task_status] if task_status else [])


def test_a_hangup_in_the_recording_keeps_the_partial_message(one: LineDb, tmp_path: Path) -> None:
    call_line(one, tmp_path, Press("3"), Press("1"), HangUp(after_ms=1500, during="record"))
    (rec,) = one.rows(m.Recording)
    assert rec.partial and Path(rec.path).exists()


def test_a_hangup_while_entering_the_code(two: LineDb, tmp_path: Path) -> None:
    s = call_line(two, tmp_path, Press("2"), Press("0"), Press("0"), HangUp())
    assert s.exit_code == 0, s.stderr
    (call,) = two.calls()
    assert (call.ended_how, call.survey_id) == ("hangup", None)


def test_a_hangup_in_the_complaint_menu(one: LineDb, tmp_path: Path) -> None:
    call_line(one, tmp_path, Press("2"), HangUp(), caller=STRANGER)
    (call,) = one.calls()
    assert call.ended_how == "hangup"
    assert one.rows(m.Complaint) == []


def test_silence_ends_as_no_input(one: LineDb, tmp_path: Path) -> None:
    call_line(one, tmp_path, Silence(), Silence(), Silence())
    assert one.calls()[0].ended_how == "no_input"
    assert one.survey(one.surveys[0]).rating is None


def test_every_line_taken_the_caller_hears_call_later(one: LineDb, tmp_path: Path) -> None:
    """inbound_lines=1 and that line held (by another process's lock): 'line_busy', hang up,
    nothing asked; the call is recorded as turned away."""
    held = LinePool(str(tmp_path / "data" / "lines"), INBOUND, 1).take()
    assert held is not None
    try:
        s = call_line(one, tmp_path, env={"PINGJING_IVR_INBOUND_LINES": "1"})
    finally:
        held.release()
    assert s.exit_code == 0, s.stderr
    assert [c for c in s.commands if c.startswith("STREAM FILE")] == [
        'STREAM FILE pingjing/line_busy "" 0'
    ]
    (call,) = one.calls()
    assert (call.busy, call.ended_how) == (True, "busy")


def test_the_trunk_shared_with_callbacks_is_full(one: LineDb, tmp_path: Path) -> None:
    """Inbound lines free but every trunk line held (callbacks in progress): busy too."""
    from ivr.lines import TRUNK

    held = LinePool(str(tmp_path / "data" / "lines"), TRUNK, 2)
    lines = [held.take(), held.take()]
    try:
        s = call_line(one, tmp_path, env={"PINGJING_IVR_TRUNK_LINES": "2"})
    finally:
        for line in lines:
            assert line is not None
            line.release()
    assert 'STREAM FILE pingjing/line_busy "" 0' in s.commands


def test_the_line_is_free_again_after_the_call(one: LineDb, tmp_path: Path) -> None:
    call_line(one, tmp_path, Press("1"), env={"PINGJING_IVR_INBOUND_LINES": "1"})
    assert LinePool(str(tmp_path / "data" / "lines"), INBOUND, 1).in_use() == 0


def test_database_down_the_caller_may_still_complain_and_it_is_spooled(tmp_path: Path) -> None:
    """No database: no survey can be found, the complaint is offered and the call spooled."""
    s = call_line(None, tmp_path, Press("2"), Press("2"), Speak(1000), url=DOWN_URL)
    assert s.exit_code == 0, s.stderr
    (spooled,) = (tmp_path / "data" / "agi-spool" / "inbound").glob("*.json")
    data = json.loads(spooled.read_text(encoding="utf-8"))
    assert (data["kind"], data["complaint"], data["caller"]) == ("inbound", "efficiency", CALLER)
    assert "survey lookup failed" in data["error"]
    assert "nobody@" not in s.stderr or "********" in s.stderr


def test_an_sms_reply_after_a_phone_rating_is_kept_not_counted(one: LineDb, tmp_path: Path) -> None:
    """Phone first (满意), then the SMS says 3: the survey stays 满意 by phone; the SMS is a
    comment on it, and no callback is asked for."""
    from gateway.smpp.api import InboundSms
    from gateway.surveys.classifier import classify
    from gateway.surveys.settings import SurveySettings
    from storage.survey_replies import apply_replies

    call_line(one, tmp_path, Press("1"))
    now = datetime.now(UTC)
    with one.sessions() as s, s.begin():
        row = m.InboundMessage(
            source_addr=CALLER,
            destination_addr="10690000",
            data_coding=8,
            raw_hex="",
            text="3",
            received_at=now,
        )
        s.add(row)
        s.flush()
        sms = InboundSms(row.id, CALLER, "10690000", "3", False, now)
        (outcome,) = apply_replies(s, [(sms, classify("3"))], SurveySettings(), now)
    assert outcome.match_status == "comment"
    survey = one.survey(one.surveys[0])
    assert (survey.rating, survey.rated_via, survey.comment) == ("satisfied", "phone", "3")
    assert one.rows(m.CallbackTask) == []


def test_a_phone_rating_after_an_sms_reply_is_kept_not_counted(one: LineDb, tmp_path: Path) -> None:
    """SMS first (基本满意), then the caller keys 3: the SMS rating stands; the call keeps its
    rating, not counted; no callback, no case."""
    from gateway.smpp.api import InboundSms
    from gateway.surveys.classifier import classify
    from gateway.surveys.settings import SurveySettings
    from storage.survey_replies import apply_replies

    now = datetime.now(UTC)
    with one.sessions() as s, s.begin():
        row = m.InboundMessage(
            source_addr=CALLER,
            destination_addr="10690000",
            data_coding=8,
            raw_hex="",
            text="2",
            received_at=now,
        )
        s.add(row)
        s.flush()
        sms = InboundSms(row.id, CALLER, "10690000", "2", False, now)
        apply_replies(s, [(sms, classify("2"))], SurveySettings(), now)
    s = call_line(one, tmp_path, Press("1"))
    assert s.exit_code == 0, s.stderr
    survey = one.survey(one.surveys[0])
    assert (survey.rating, survey.rated_via) == ("basically_satisfied", "sms")
    (call,) = one.calls()
    assert (call.rating, call.counted) == ("satisfied", False)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_two(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'line.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    db = seed_line(url, surveys=2)
    yield db
    db.engine.dispose()


def test_code_and_unsatisfied_on_both_databases(any_two: LineDb, tmp_path: Path) -> None:
    """The lookup by code and the whole unsatisfied write, on SQLite and PostgreSQL."""
    db = any_two
    s = call_line(db, tmp_path, Press("2"), *keys(db.codes[0]), Press("3"), Press("5"), Speak())
    assert s.exit_code == 0, s.stderr
    survey = db.survey(db.surveys[0])
    assert (survey.rating, survey.rated_via) == ("unsatisfied", "phone")
    (task,) = db.rows(m.CallbackTask)
    assert (task.status, task.reason_key, task.consent) == ("completed", "5", None)
    (call,) = db.calls()
    assert (call.found_by, call.counted, call.ended_how) == ("code", True, "completed")


def test_a_spooled_call_is_stored_when_the_database_is_back(one: LineDb, tmp_path: Path) -> None:
    """The daemon ingests <spool>/inbound/: the call and its complaint are stored, the file
    deleted; ingesting again finds nothing; a broken file goes to bad/."""
    from gateway.surveys.settings import SurveySettings
    from ivr.inbound_spool import ingest_line_spool, line_spool_dir
    from storage.inbound_results import session_inbound_writer

    call_line(None, tmp_path, Press("2"), Press("3"), Speak(1000), url=DOWN_URL)
    spool = tmp_path / "data" / "agi-spool"
    (line_spool_dir(spool) / "line-broken.json").write_text("{", encoding="utf-8")
    write = session_inbound_writer(one.sessions, SurveySettings())
    report = ingest_line_spool(spool, write)
    assert (len(report.ingested), report.bad) == (1, ["line-broken.json"])
    (complaint,) = one.rows(m.Complaint)
    assert complaint.category == "misconduct"
    assert ingest_line_spool(spool, write).ingested == []
