"""Countries: the ISO 3166-1 codes a billing address may carry, named and sorted per language.

The list is pycountry's (ISO 3166-1 as the ISO maintenance agency publishes it): only
officially assigned alpha-2 codes, so none of CLDR's regions ("European Union", "Eurozone",
"Outlying Oceania", "Unknown Region") and none of its pseudo-locales. Names are CLDR's, in the
reader's language, through Babel; a menu orders them with the Unicode Collation Algorithm
(pyuca, the DUCET table), so "Åland Islands" sits among the A's and "Égypte" among the E's
rather than after Z as code-point order puts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

import pycountry
from babel import Locale
from pyuca import Collator

from billing.errors import InvalidInput, RuleViolation
from billing.formatting import babel_locale

COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)


def check_country(value: str) -> str:
    """The upper-cased ISO 3166-1 alpha-2 code, or RuleViolation `invalid_country`."""
    if value.strip().upper() not in COUNTRY_CODES:
        raise RuleViolation(
            "invalid_country", "must be an ISO 3166-1 alpha-2 country code such as FR"
        )
    return value.strip().upper()


def validate_country(value: object, field: str = "address.country") -> str:
    """The upper-cased alpha-2 code, or InvalidInput naming `field`."""
    if not isinstance(value, str):
        value = ""
    try:
        return check_country(value)
    except RuleViolation as violation:
        raise InvalidInput({field: violation.message}, {field: violation.code}) from None


@cache
def _collator() -> Collator:
    # Reads the DUCET table (about 0.3 s): once per process, on the first menu drawn.
    return Collator()


@cache
def country_names(language: str) -> Mapping[str, str]:
    """Each assigned country's code to its name in `language` (ISO's English if CLDR has none)."""
    territories = Locale.parse(babel_locale(language)).territories
    return MappingProxyType(
        {
            country.alpha_2: str(territories.get(country.alpha_2) or country.name)
            for country in pycountry.countries
        }
    )


def country_name(code: str, language: str) -> str:
    """The name of country `code` in `language`; the code itself when it is not a country."""
    return country_names(language).get(code.upper(), code)


@cache
def country_choices(language: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of every assigned country in `language`, in collation order.

    The order is the Unicode Collation Algorithm's default (DUCET), which is CLDR's root
    order: right for the letters of English, French, German, Spanish, Italian, Dutch and
    Portuguese; Swedish and Danish put Å, Ä, Ö (Æ, Ø, Å) after Z, which it does not.
    """
    collator = _collator()
    names = country_names(language)
    return tuple(sorted(names.items(), key=lambda item: collator.sort_key(item[1].casefold())))
