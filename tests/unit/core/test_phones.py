"""Phone numbers are stored in E.164 so caller ID matches, and logged only masked."""

import pytest

from core.phones import InvalidPhone, mask_phone, normalise_phone, try_normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("023-4671 2345", "+862346712345"),  # 荣昌 landline with area code
        ("(023)46712345", "+862346712345"),
        ("+86 23 4671 2345", "+862346712345"),
        ("138 0000 1234", "+8613800001234"),
        ("+8613800001234", "+8613800001234"),
    ],
)
def test_mobiles_and_landlines_normalise_to_e164(raw, expected):
    """The same number written any usual way becomes one E.164 string."""
    assert normalise_phone(raw) == expected


def test_empty_is_none_and_garbage_is_an_error():
    """Empty means no phone; text that is not a number is refused with a message."""
    assert normalise_phone("  ") is None
    with pytest.raises(InvalidPhone):
        normalise_phone("not a phone")
    assert try_normalise_phone("12") is None


def test_masking_keeps_only_last_four_digits():
    """Logs never contain a full phone number."""
    assert mask_phone("+8613800001234") == "***1234"
    assert "138" not in mask_phone("+8613800001234")
