"""Amounts typed into a form ("25", "25,50") read as minor units of a currency."""

from __future__ import annotations

import re

from billing.errors import InvalidInput
from billing.money import exponent
from web.i18n import Translator, translator

AMOUNT = re.compile(r"^\d{1,12}(?:[.,]\d{1,3})?$")


def parse_amount(text: object, currency: str, *, i18n: Translator | None = None) -> int:
    """A typed amount such as "25" or "25.50" in minor units of `currency`.

    InvalidInput on `amount` says what is wrong in the language of `i18n` (English by default).
    """
    i18n = i18n or translator("en")
    value = str(text or "").strip()
    digits = exponent(currency)
    if not AMOUNT.match(value):
        raise InvalidInput({"amount": i18n.gettext("enter an amount such as 25 or 25.50")})
    whole, _, fraction = value.replace(",", ".").partition(".")
    if len(fraction) > digits:
        raise InvalidInput(
            {"amount": i18n.gettext("use at most %(digits)s decimal places", digits=digits)}
        )
    minor: int = int(whole) * 10**digits + int(fraction.ljust(digits, "0") or 0)
    return minor
