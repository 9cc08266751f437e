"""Phone numbers normalised to E.164, including Chinese landlines given with their area code."""

from __future__ import annotations

import phonenumbers

from core.errors import LocalisedError
from core.i18n import N_

DEFAULT_REGION = "CN"


class InvalidPhone(LocalisedError, ValueError):
    """The text is not a usable phone number (`message` and `params` say why, for any language)."""


def normalise_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Return the E.164 form of a number (mobile or landline with area code), None for empty input.

    `023-4671 2345` (荣昌 landline) → `+862346712345`; `138 0000 0000` → `+8613800000000`.
    """
    number = _parse_possible(raw, region)
    return None if number is None else phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_possible(raw: str | None, region: str) -> phonenumbers.PhoneNumber | None:
    if raw is None or not str(raw).strip():
        return None
    text = str(raw).strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(N_("电话号码无法识别：%(number)s"), number=mask_phone(text)) from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(N_("电话号码位数不对：%(number)s"), number=mask_phone(text))
    return number


def normalise_phone_strict(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Like normalise_phone, but only numbers that can exist: an 11-digit mobile or a landline with its area code.

    For typed-in lists (a county's roster): a mobile missing a digit, or a landline without its area
    code, is "possible" to the lenient check but reaches nobody.
    """
    number = _parse_possible(raw, region)
    if number is None:
        return None
    national = str(number.national_number)
    if number.country_code == 86 and national.startswith("1") and len(national) != 11:
        raise InvalidPhone(N_("手机号应为11位：%(number)s"), number=mask_phone(str(raw)))
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(N_("号码不存在或座机没有区号：%(number)s"), number=mask_phone(str(raw)))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_normalise_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Like normalise_phone, but None instead of an error (for caller IDs from a network)."""
    try:
        return normalise_phone(raw, region)
    except InvalidPhone:
        return None


def mask_phone(number: str | None) -> str:
    """A log-safe form of a number: only the last four digits are kept."""
    if not number:
        return "-"
    digits = "".join(ch for ch in str(number) if ch.isdigit())
    return "***" + digits[-4:] if len(digits) > 4 else "***"
