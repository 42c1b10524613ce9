"""Phone-number normalisation as upstream does it: libphonenumber, mobile numbers only, E.164."""

import phonenumbers
from phonenumbers import PhoneNumberType

from .errors import InvalidInput

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize_phone(raw: str, default_region: str) -> str:
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"failed to parse phone number: {exc._msg}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("invalid phone number")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidInput("not mobile phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
