"""The IVR's keys mean what the rest of pingjing thinks they mean."""

from __future__ import annotations

from gateway.callbacks.policy import REASONS as POLICY_REASONS
from gateway.surveys.classifier import DIGIT_RATINGS
from ivr.flow import RATINGS, REASONS


def test_reason_keys_match_the_scheduler_and_export() -> None:
    """Key 1-5 name the same reasons in the IVR and in gateway/callbacks/policy."""
    assert REASONS == POLICY_REASONS


def test_rating_keys_match_the_sms_survey() -> None:
    """1/2/3 on the phone are the same ratings as 1/2/3 in an SMS reply."""
    assert RATINGS == DIGIT_RATINGS


def test_every_reason_has_the_label_the_menu_says() -> None:
    """Each reason identifier has a label, and the menu prompt says the labels in key order."""
    from gateway.callbacks.policy import REASON_LABELS
    from ivr.prompts import PROMPTS

    assert set(REASON_LABELS) == set(REASONS.values())
    menu = PROMPTS["menu"]
    labels = {k: REASON_LABELS[REASONS[k]] for k in REASONS}
    said = [(menu.index(labels[k]), menu.index(f"请按{k}")) for k in sorted(REASONS)]
    flat = [at for pair in said for at in pair]
    assert flat == sorted(flat), "each label comes right before its own key, in key order"
