"""Money, dates and names as a language writes them, through Babel: the one place that formats.

Pages (the portal, checkout, the settings page) and the invoice PDF all format here, so
an amount or a day reads the same on screen and on paper.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_percent

from billing.money import exponent

# A language code to the Babel locale whose conventions it means where they differ by
# country: Babel's bare "pt" is Brazil's (€ 12,50), the product's Portuguese is Portugal's.
_LOCALES = {"pt": "pt_PT"}


# German and Danish write the day of the month as an ordinal, with a dot (CLDR's yMMMd).
_DAY_PATTERNS = {"de": "d. MMM y", "da": "d. MMM y"}


def babel_locale(language: str) -> str:
    """The Babel locale that `language` means (Portuguese is Portugal's)."""
    return _LOCALES.get(language, language)


def format_money(amount_minor: int, currency: str, language: str) -> str:
    """An amount in minor units as `language` writes it: 12,50 € or €12.50."""
    major = Decimal(amount_minor).scaleb(-exponent(currency))
    return str(format_currency(major, currency, locale=babel_locale(language)))


def format_rate(rate_bps: int, language: str) -> str:
    """A tax rate in basis points as `language` writes it: 20%, 5,5 %, 5,5%."""
    rate = Decimal(rate_bps).scaleb(-4)
    return str(format_percent(rate, locale=babel_locale(language), decimal_quantization=False))


def format_day(moment: datetime | date, language: str) -> str:
    """A date as `language` writes it, unambiguous: 1 Dec 2026, 1 déc. 2026, 1. Dez. 2026."""
    day = moment.date() if isinstance(moment, datetime) else moment
    pattern = _DAY_PATTERNS.get(language, "d MMM y")
    return str(format_date(day, pattern, locale=babel_locale(language)))


def language_name(code: str, language: str) -> str:
    """The name of language `code`, written in `language`."""
    name = Locale.parse(babel_locale(language)).languages.get(code, code)
    return str(name).capitalize()
