"""VAT numbers: normalise and check the format for the customer's country.

Only the shape is checked (kernel.vat_numbers, shared with the seller's own number);
whether a number is registered needs VIES itself.
"""

from __future__ import annotations

from billing.errors import InvalidInput
from kernel.vat_numbers import (
    EU_MEMBER_STATES,
    GENERIC,
    VAT_FORMATS,
    check_vat_number,
    example,
    normalize_vat_number,
)

__all__ = [
    "EU_MEMBER_STATES",
    "GENERIC",
    "VAT_FORMATS",
    "example",
    "normalize_vat_number",
    "validate_vat_number",
]


def validate_vat_number(value: object, *, country: str | None, field: str = "vat_number") -> str:
    """The normalised VAT number for `country`, or InvalidInput naming `field`.

    A number typed without its country prefix gets it ("123456789" for DE becomes
    "DE123456789"). Greek numbers typed with GR are rewritten to EL.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput({field: "must be a non-empty string"}, {field: "required"})
    if country is None:
        raise InvalidInput(
            {field: "needs a billing country (address.country) to be checked"},
            {field: "country_required"},
        )
    try:
        return check_vat_number(value, country)
    except ValueError as error:
        codes = {field: "invalid_vat_number"}
        raise InvalidInput({field: str(error)}, codes) from None
