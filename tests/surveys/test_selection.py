"""Selection: one decision per event, each reason reachable, sampling stable per event id."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.events.schema import validate_event
from gateway.surveys.selection import Decision, PhoneHistory, decide, sample_point
from gateway.surveys.settings import SurveySettings

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
SETTINGS = SurveySettings()


def event(**changes):
    data = {
        "event_id": "E-1",
        "category": "window",
        "unit_code": "U1",
        "officer_ids": ["P1"],
        "citizen_phone": "13812345678",
        "occurred_at": "2026-03-02T10:00:00+08:00",
        "closed_at": "2026-03-02T11:00:00+08:00",
    }
    data.update(changes)
    return validate_event(data, now=NOW)


def test_plain_event_is_selected_delay_after_close():
    """A fresh event is selected and scheduled 30 minutes after it closed (or now, if later)."""
    got = decide(event(), PhoneHistory(), SETTINGS, NOW)
    assert got == Decision("selected", NOW)
    early = NOW - timedelta(minutes=50)
    assert decide(event(), PhoneHistory(), SETTINGS, early).scheduled_at == datetime(
        2026, 3, 2, 3, 30, tzinfo=UTC
    )


@pytest.mark.parametrize("tag", ["domestic_violence", "sexual_offence", "juvenile"])
def test_sensitive_tags_are_never_surveyed(tag):
    """The default sensitive tags give sensitive_category."""
    assert decide(event(tags=[tag]), PhoneHistory(), SETTINGS, NOW).decision == (
        "sensitive_category"
    )


def test_sensitive_tags_are_configurable():
    """A deployment may add its own sensitive tag."""
    settings = replace(SETTINGS, sensitive_tags=["deceased"])
    assert decide(event(tags=["deceased"]), PhoneHistory(), settings, NOW).decision == (
        "sensitive_category"
    )
    assert decide(event(tags=["juvenile"]), PhoneHistory(), settings, NOW).selected


def test_opted_out_number_is_not_surveyed():
    assert decide(event(), PhoneHistory(opted_out=True), SETTINGS, NOW).decision == "opted_out"


def test_number_surveyed_within_thirty_days_is_skipped():
    """The same phone surveyed 29 days ago is recently_surveyed; 31 days ago it is selected."""
    recent = PhoneHistory(last_surveyed_at=NOW - timedelta(days=29))
    old = PhoneHistory(last_surveyed_at=NOW - timedelta(days=31))
    assert decide(event(), recent, SETTINGS, NOW).decision == "recently_surveyed"
    assert decide(event(), old, SETTINGS, NOW).selected


def test_landline_is_not_mobile():
    assert decide(event(citizen_phone="057187654321"), PhoneHistory(), SETTINGS, NOW).decision == (
        "not_mobile"
    )


def test_second_report_of_same_contact_is_duplicate():
    history = PhoneHistory(duplicate_of="E-0")
    assert decide(event(), history, SETTINGS, NOW).decision == "duplicate"


def test_event_older_than_limit_is_too_old():
    """An event that ended more than 7 days ago is too_old."""
    old = event(occurred_at="2026-02-20T10:00:00+08:00", closed_at="2026-02-20T11:00:00+08:00")
    assert decide(old, PhoneHistory(), SETTINGS, NOW).decision == "too_old"


def test_sampling_rate_zero_samples_everything_out():
    settings = replace(SETTINGS, sampling_rates={"window": 0.0})
    assert decide(event(), PhoneHistory(), settings, NOW).decision == "sampled_out"


def test_sampling_is_deterministic_per_event_id():
    """The same event id is sampled the same way every time (replays do not flip it)."""
    settings = replace(SETTINGS, sampling_rates={"window": 0.5})
    ids = [f"E-{i}" for i in range(400)]
    first = [decide(event(event_id=i), PhoneHistory(), settings, NOW).decision for i in ids]
    again = [decide(event(event_id=i), PhoneHistory(), settings, NOW).decision for i in ids]
    assert first == again
    kept = first.count("selected")
    assert 150 < kept < 250
    assert all(0 <= sample_point(i) < 1 for i in ids)


def test_sampling_applies_per_category():
    """A rate for one category leaves the others at 100%."""
    settings = replace(SETTINGS, sampling_rates={"incident": 0.0})
    assert decide(event(), PhoneHistory(), settings, NOW).selected


def test_sensitive_outranks_every_other_reason():
    """A sensitive event is recorded as sensitive even if the phone is also opted out."""
    history = PhoneHistory(opted_out=True, last_surveyed_at=NOW)
    got = decide(event(tags=["juvenile"], citizen_phone="110"), history, SETTINGS, NOW)
    assert got.decision == "sensitive_category"
    assert got.scheduled_at is None


def test_invalid_sampling_rate_is_refused_at_start_up():
    with pytest.raises(ValueError, match=r"sampling_rates\.case=1\.5"):
        SurveySettings(sampling_rates={"case": 1.5})
