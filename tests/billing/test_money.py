"""Money: currencies, amount checks, half-up tax rounding and display formatting."""

from __future__ import annotations

import pytest

from billing.errors import InvalidInput
from billing.formatting import format_money
from billing.money import (
    exponent,
    round_half_up,
    tax_for,
    validate_amount,
    validate_currency,
)


@pytest.mark.parametrize(("code", "digits"), [("EUR", 2), ("JPY", 0), ("BHD", 3), ("CHF", 2)])
def test_each_currency_has_its_minor_unit_exponent(code: str, digits: int) -> None:
    assert exponent(code) == digits


def test_currency_codes_are_upper_cased_and_unknown_ones_name_the_field() -> None:
    assert validate_currency("sek") == "SEK"
    with pytest.raises(InvalidInput) as caught:
        validate_currency("EURO", field="line_items.0.currency")
    assert set(caught.value.errors) == {"line_items.0.currency"}
    with pytest.raises(InvalidInput):
        validate_currency(978)


@pytest.mark.parametrize("bad", [1.5, "100", True, -1, 10**13, None])
def test_amounts_must_be_integers_in_range(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_amount(bad, "amount")
    assert "amount" in caught.value.errors


def test_tax_rounds_half_up_to_a_minor_unit() -> None:
    assert tax_for(1000, 2000) == 200  # 20% of 10.00
    assert tax_for(5, 1000) == 1  # 0.5 -> 1
    assert tax_for(4, 1000) == 0  # 0.4 -> 0
    assert tax_for(333, 550) == 18  # 18.315 -> 18
    assert tax_for(1, 5000) == 1  # exactly half rounds up
    assert round_half_up(-5, 10) == -1  # away from zero for credits


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (1250, "EUR", "en", "€12.50"),
        (123456789, "USD", "en", "$1,234,567.89"),
        (500, "JPY", "en", "¥500"),
        (1234, "BHD", "en", "BHD1.234"),
        (1250, "EUR", "fr", "12,50\u00a0€"),
        (123456, "EUR", "de", "1.234,56\u00a0€"),
        (-990, "GBP", "en", "-£9.90"),
        (9900, "CHF", "en", "CHF99.00"),
    ],
)
def test_amounts_are_shown_the_way_readers_expect(
    amount: int, currency: str, locale: str, shown: str
) -> None:
    assert format_money(amount, currency, locale) == shown
