"""SMS texts: rendering, the signature, and the part-count warning at start-up."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.surveys.settings import SurveySettings
from gateway.surveys.templates import (
    TemplateError,
    check_templates,
    count_parts,
    render_reply,
    render_survey,
    sms_parts,
)

S = SurveySettings()
ENDED = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 3月2日 01:00 in Shanghai


def test_survey_text_has_signature_date_unit_business_and_how_to_rate():
    sms = render_survey(S, "window", ended_at=ENDED, unit_name="城关派出所", business="户籍办理")
    assert sms.text.startswith("【某某公安】")
    assert "3月2日" in sms.text
    assert "城关派出所" in sms.text
    assert "户籍办理" in sms.text
    assert "1满意" in sms.text and "2基本满意" in sms.text and "3不满意" in sms.text
    assert "TD退订" in sms.text
    assert sms.parts == 1


def test_missing_business_falls_back_to_the_category_label():
    sms = render_survey(S, "incident", ended_at=ENDED, unit_name="城关派出所", business=None)
    assert "接处警" in sms.text


def test_every_default_template_fits_one_part_with_ordinary_values():
    for category in S.templates:
        sms = render_survey(S, category, ended_at=ENDED, unit_name="城关派出所", business="户籍")
        assert sms.parts == 1, sms.text


def test_long_values_give_a_warning_naming_the_template():
    warnings = check_templates(S, longest_unit="某" * 30, longest_business="户籍办理")
    assert warnings
    assert all("SMS parts" in w for w in warnings)
    assert any("'window'" in w for w in warnings)


def test_short_values_give_no_warning():
    assert check_templates(S, longest_unit="城关派出所", longest_business="户籍") == []


def test_unknown_placeholder_is_refused_with_its_name():
    settings = replace(S, templates={**S.templates, "case": "您好{name}"})
    with pytest.raises(TemplateError, match=r"'case'.*\{name\}"):
        render_survey(settings, "case", ended_at=ENDED, unit_name="x", business="y")


def test_reply_texts_carry_the_signature():
    assert render_reply(S, "opt_out_confirm").text.startswith("【某某公安】")
    assert "回访" in render_reply(S, "unsatisfied").text


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("€" * 80, 1),
    ],
)
def test_part_counts_match_sms_limits(text, parts):
    """Our count and the SMPP module's agree on the 160/153 and 70/67 limits."""
    assert count_parts(text) == parts
    assert sms_parts(text) == parts
