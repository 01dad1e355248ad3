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
