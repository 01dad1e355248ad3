"""Phone normalisation: every form a clerk types, and every number that is not SMS-able."""

import pytest

from gateway.events.phones import normalise_mobile


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "0086-138-1234-5678",
        "8613812345678",
        "138-1234-5678",
        "１３８１２３４５６７８",
        " 138 1234 5678 ",
        "(+86) 138.1234.5678",
    ],
)
def test_mobile_forms_normalise_to_eleven_digits(raw):
    """Prefixes +86/0086/86, spaces, dashes and full-width digits all give the national form."""
    assert normalise_mobile(raw).mobile == "13812345678"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("010-12345678", "landline"),
        ("02112345678", "landline"),
        ("12345678901", "prefix"),
        ("1381234567", "10 digits"),
        ("138123456789", "12 digits"),
        ("+1 415 555 0100", "foreign"),
        ("138abc45678", "characters"),
        ("", "empty"),
        ("   ", "empty"),
        ("110", "3 digits"),
    ],
)
def test_non_mobiles_are_not_sms_able_with_a_reason(raw, why):
    """Anything but a Chinese mobile is refused, and the reason says what it looked like."""
    check = normalise_mobile(raw)
    assert check.mobile is None
    assert not check.sms_able
    assert why in check.reason


@pytest.mark.parametrize(
    "raw", ["13812345678", "19912345678", "12812345678", "1381234567x", "138１２３４５６７８"]
)
def test_the_canonical_shortcut_agrees_with_the_full_reading(raw):
    """An 11-digit ASCII mobile skips normalisation; the answer is the one the steps give."""
    import unicodedata

    from gateway.events import phones

    text = unicodedata.normalize("NFKC", raw).strip()
    full = phones.normalise_mobile(" " + text + " ")  # padded: takes the full path
    assert normalise_mobile(raw) == full
