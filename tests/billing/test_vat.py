"""VAT numbers: per-country formats, normalisation, and errors naming the field."""

from __future__ import annotations

import pytest

from billing.errors import InvalidInput
from billing.vat import validate_vat_number


@pytest.mark.parametrize(
    ("country", "typed", "stored"),
    [
        ("DE", "DE 123 456 789", "DE123456789"),
        ("DE", "123456789", "DE123456789"),
        ("FR", "fr12.345678901", "FR12345678901"),
        ("FR", "FRAB123456789", "FRAB123456789"),
        ("GB", "GB123456789", "GB123456789"),
        ("GB", "GB123456789012", "GB123456789012"),
        ("NL", "NL123456789B01", "NL123456789B01"),
        ("AT", "ATU12345678", "ATU12345678"),
        ("GR", "GR123456789", "EL123456789"),
        ("ES", "ESX1234567X", "ESX1234567X"),
        ("IE", "IE1234567WA", "IE1234567WA"),
        ("BE", "BE0123456789", "BE0123456789"),
        ("SE", "SE123456789001", "SE123456789001"),
        ("CH", "CHE-123.456.789 MWST", "CHE123456789MWST"),
        ("NO", "NO123456789MVA", "NO123456789MVA"),
        ("US", "12-3456789", "123456789"),
    ],
)
def test_valid_numbers_are_normalised(country: str, typed: str, stored: str) -> None:
    assert validate_vat_number(typed, country=country) == stored


@pytest.mark.parametrize(
    ("country", "typed"),
    [
        ("DE", "DE12345678"),  # one digit short
        ("DE", "FR12345678901"),  # another country's number
        ("FR", "FRIO123456789"),  # I and O are not used in the key
        ("GB", "GB1234567890"),  # 10 digits
        ("NL", "NL123456789C01"),
        ("AT", "AT12345678"),  # missing the U
        ("BE", "BE2123456789"),  # must start 0 or 1
        ("SE", "SE1234567890"),  # must end 01
        ("US", "x"),
    ],
)
def test_malformed_numbers_are_refused_naming_the_field(country: str, typed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_vat_number(typed, country=country)
    assert set(caught.value.errors) == {"vat_number"}


def test_a_vat_number_without_a_country_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_vat_number("DE123456789", country=None)
    assert "country" in caught.value.errors["vat_number"]
