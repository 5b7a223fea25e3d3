"""Money: ISO 4217 currencies we support, amount checks, and display formatting.

Amounts are always integers in the currency's minor unit (cents, öre, fils);
the exponent table says how many decimal places that unit stands for.
"""

from __future__ import annotations

from typing import Any

from billing.errors import InvalidInput, RuleViolation

# ISO 4217 code -> minor-unit exponent (number of decimals). Only currencies we can
# bill in are listed; an unknown code is a field error, not a silent default.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2,
    "AUD": 2,
    "BGN": 2,
    "BHD": 3,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CLP": 0,
    "CNY": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "HUF": 2,
    "IDR": 2,
    "ILS": 2,
    "INR": 2,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "MXN": 2,
    "MYR": 2,
    "NOK": 2,
    "NZD": 2,
    "OMR": 3,
    "PHP": 2,
    "PLN": 2,
    "RON": 2,
    "SAR": 2,
    "SEK": 2,
    "SGD": 2,
    "THB": 2,
    "TND": 3,
    "TRY": 2,
    "TWD": 2,
    "UAH": 2,
    "USD": 2,
    "VND": 0,
    "ZAR": 2,
}

# Largest amount accepted anywhere (10^12 minor units: ten billion euros); keeps sums
# of many lines far inside PostgreSQL's bigint.
MAX_AMOUNT = 10**12


def exponent(currency: str) -> int:
    """Decimal places of `currency`'s minor unit; KeyError for a currency we do not support."""
    return CURRENCY_EXPONENTS[currency]


def check_currency(code: str) -> str:
    """The upper-cased ISO 4217 code of a supported currency, or RuleViolation."""
    if code.upper() not in CURRENCY_EXPONENTS:
        raise RuleViolation(
            "invalid_currency", "must be a supported ISO 4217 currency code such as EUR"
        )
    return code.upper()


def validate_currency(code: object, field: str = "currency") -> str:
    """The upper-cased ISO 4217 code, or InvalidInput naming `field`."""
    try:
        return check_currency(code if isinstance(code, str) else "")
    except RuleViolation as violation:
        raise InvalidInput({field: violation.message}, {field: violation.code}) from None


def is_amount(value: Any, *, minimum: int = 0, maximum: int = MAX_AMOUNT) -> bool:
    """Whether `value` is an integer amount in minor units within [minimum, maximum]."""
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum


def validate_amount(value: Any, field: str, *, minimum: int = 0, maximum: int = MAX_AMOUNT) -> int:
    """`value` as an amount in minor units, or InvalidInput naming `field`."""
    if not is_amount(value, minimum=minimum, maximum=maximum):
        raise InvalidInput(
            {field: f"must be an integer amount in minor units between {minimum} and {maximum}"}
        )
    return int(value)


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def tax_for(amount: int, rate_bps: int) -> int:
    """Tax on `amount` at `rate_bps` basis points (2000 = 20%), rounded half-up to a minor unit."""
    return round_half_up(amount * rate_bps, 10_000)
