"""Countries: the ISO 3166-1 codes a billing address may carry, named and sorted per language.

The list is pycountry's (ISO 3166-1 as the ISO maintenance agency publishes it): only
officially assigned alpha-2 codes, so none of CLDR's regions ("European Union", "Eurozone",
"Outlying Oceania", "Unknown Region") and none of its pseudo-locales. Names are CLDR's, in the
reader's language, through Babel; a menu orders them with the Unicode Collation Algorithm
(pyuca, the DUCET table) tailored for Swedish, Danish and Polish, so "Åland Islands" sits
among the A's in English and after Z in Swedish, and "Égypte" among the E's in French,
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


# CLDR's tailorings of the root order for the offered languages that have one: letters that
# are letters of their own, sorted after their base letter or after Z. Each is replaced,
# for sorting only, by its base followed by U+FFFF (whose weight is above every letter's)
# and its rank. English, French, German, Spanish, Italian, Dutch and Portuguese use the
# root order as it is.
_AFTER_Z = "z\uffff"
_TAILORINGS: dict[str, dict[str, str]] = {
    # Swedish: ... X Y Z Å Ä Ö; Æ sorts as Ä, Ø as Ö.
    "sv": {"å": _AFTER_Z + "1", "ä": _AFTER_Z + "2", "æ": _AFTER_Z + "2",
           "ö": _AFTER_Z + "3", "ø": _AFTER_Z + "3"},
    # Danish: ... X Y Z Æ Ø Å; Ä sorts as Æ, Ö as Ø.
    "da": {"æ": _AFTER_Z + "1", "ä": _AFTER_Z + "1", "ø": _AFTER_Z + "2",
           "ö": _AFTER_Z + "2", "å": _AFTER_Z + "3"},
    # Polish: A Ą B C Ć D E Ę ... L Ł ... N Ń O Ó ... S Ś ... Z Ź Ż.
    "pl": {"ą": "a\uffff", "ć": "c\uffff", "ę": "e\uffff", "ł": "l\uffff", "ń": "n\uffff",
           "ó": "o\uffff", "ś": "s\uffff", "ź": _AFTER_Z + "1", "ż": _AFTER_Z + "2"},
}  # fmt: skip


def collation_key(text: str, language: str) -> tuple[int, ...]:
    """A sort key ordering `text` as `language` orders its alphabet (case aside)."""
    folded = text.casefold()
    tailoring = _TAILORINGS.get(language)
    if tailoring:
        folded = "".join(tailoring.get(letter, letter) for letter in folded)
    key: tuple[int, ...] = _collator().sort_key(folded)
    return key


@cache
def country_choices(language: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of every assigned country in `language`, in that language's order.

    The Unicode Collation Algorithm's root order (DUCET), with the tailorings above.
    """
    names = country_names(language)
    return tuple(sorted(names.items(), key=lambda item: collation_key(item[1], language)))
