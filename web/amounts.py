"""Amounts typed into a form ("25", "25,50") read as minor units of a currency."""

from __future__ import annotations

import re

from billing.errors import InvalidInput
from billing.money import exponent
from web.i18n import Translate, translator

AMOUNT = re.compile(r"^\d{1,12}(?:[.,]\d{1,3})?$")


def parse_amount(text: object, currency: str, *, t: Translate | None = None) -> int:
    """A typed amount such as "25" or "25.50" in minor units of `currency`.

    InvalidInput on `amount` says what is wrong in the language of `t` (English by default).
    """
    t = t or translator("en")
    value = str(text or "").strip()
    digits = exponent(currency)
    if not AMOUNT.match(value):
        raise InvalidInput({"amount": t("topup.amount_format")})
    whole, _, fraction = value.replace(",", ".").partition(".")
    if len(fraction) > digits:
        raise InvalidInput({"amount": t("topup.decimals", digits=digits)})
    minor: int = int(whole) * 10**digits + int(fraction.ljust(digits, "0") or 0)
    return minor
