"""Survey codes: short, digits only, a check digit that catches keypad slips, carried by the SMS."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from gateway.events.schema import validate_event
from gateway.surveys.codes import code_length, survey_code, well_formed
from gateway.surveys.settings import SurveySettings
from gateway.surveys.templates import check_templates, render_survey
from storage import models as m
from storage.events_store import store_event
from tests.surveys.support import NOW, event_data

ENDED = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)


def test_code_is_the_event_id_modulo_and_a_check_digit():
    """Five digits of the id, zero-padded, then the check digit: six keys on a keypad."""
    code = survey_code(42, 5)
    assert code[:5] == "00042" and len(code) == code_length(5) == 6
    assert code.isdigit()
    assert survey_code(100_042, 5) == code  # reused once the ids wrap


def test_codes_of_consecutive_ids_differ():
    """Inside one wrap every id has its own code."""
    codes = {survey_code(i, 4) for i in range(10_000)}
    assert len(codes) == 10_000


def test_every_single_digit_slip_and_neighbour_swap_is_caught():
    """Damm's check digit: one wrong key or two neighbours swapped never gives a valid code."""
    for event_id in (7, 12_345, 98_761, 55_555):
        code = survey_code(event_id, 5)
        assert well_formed(code, 5)
        for i in range(len(code)):
            for d in "0123456789":
                if d != code[i]:
                    assert not well_formed(code[:i] + d + code[i + 1 :], 5)
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                assert not well_formed(swapped, 5)


def test_wrong_length_or_non_digits_are_not_codes():
    assert not well_formed(survey_code(42, 5)[:-1], 5)
    assert not well_formed("00042*", 5)
    assert not well_formed("", 5)


def test_the_default_templates_carry_the_code_in_one_part():
    """Every default text names the code and still fits one SMS part with ordinary values."""
    settings = SurveySettings()
    for category in settings.templates:
        sms = render_survey(
            settings,
            category,
            ended_at=ENDED,
            unit_name="城关派出所",
            business="户籍",
            code=survey_code(4711, settings.code_digits),
        )
        assert "评价码" + survey_code(4711, 5) in sms.text
        assert sms.parts == 1


def test_a_template_without_the_code_is_warned_about():
    settings = SurveySettings(templates={**SurveySettings().templates, "case": "{unit}请回复1/2/3"})
    warnings = check_templates(settings, longest_unit="城关派出所", longest_business="户籍")
    assert any("'case' has no {code}" in w for w in warnings)


def test_a_stored_survey_has_its_code_and_the_sms_carries_it(db, settings):
    """Intake writes the code on the survey and into its SMS; a survey not sent has none."""
    event = validate_event(event_data(), now=NOW)
    db.run_sync(store_event, event, source="file", settings=settings, now=NOW)

    def read(session):
        survey = session.execute(sa.select(m.Survey)).scalar_one()
        sms = session.execute(sa.select(m.OutboundMessage)).scalar_one()
        return survey.code, survey.event_id, sms.text

    code, event_pk, text = db.run_sync(read)
    assert code == survey_code(event_pk, settings.code_digits)
    assert code in text
