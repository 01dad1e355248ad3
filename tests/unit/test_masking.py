from gateway.masking import mask_phone, mask_phones_in_text


def test_mobile_keeps_first_three_and_last_four():
    """A Chinese mobile shows only its operator prefix and last four digits."""
    assert mask_phone("13812345678") == "138****5678"


def test_country_prefix_is_dropped_before_masking():
    assert mask_phone("+86 138-1234-5678") == "138****5678"


def test_short_numbers_never_appear_whole():
    assert mask_phone("10086") == "***86"
    assert mask_phone("") == "-"


def test_numbers_inside_text_are_masked():
    assert mask_phones_in_text("call 13812345678 now") == "call 138****5678 now"
