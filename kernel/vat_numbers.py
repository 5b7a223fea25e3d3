"""VAT numbers: their shape per country (prefix, length, character classes), nothing else.

Shared by billing (customers' numbers) and the tenants layer (the seller's own number):
only the shape is checked, as the EU's VIES service documents it; whether a number is
registered needs VIES itself.
"""

from __future__ import annotations

import re

# Country (ISO 3166-1) -> (VAT prefix, pattern of the whole normalised number).
# Greece uses the prefix EL; Switzerland's UID may carry its MWST/TVA/IVA suffix.
VAT_FORMATS: dict[str, tuple[str, re.Pattern[str]]] = {
    "AT": ("ATU", re.compile(r"^ATU\d{8}$")),
    "BE": ("BE", re.compile(r"^BE[01]\d{9}$")),
    "BG": ("BG", re.compile(r"^BG\d{9,10}$")),
    "CY": ("CY", re.compile(r"^CY\d{8}[A-Z]$")),
    "CZ": ("CZ", re.compile(r"^CZ\d{8,10}$")),
    "DE": ("DE", re.compile(r"^DE\d{9}$")),
    "DK": ("DK", re.compile(r"^DK\d{8}$")),
    "EE": ("EE", re.compile(r"^EE\d{9}$")),
    "GR": ("EL", re.compile(r"^EL\d{9}$")),
    "ES": ("ES", re.compile(r"^ES[A-Z0-9]\d{7}[A-Z0-9]$")),
    "FI": ("FI", re.compile(r"^FI\d{8}$")),
    "FR": ("FR", re.compile(r"^FR[A-HJ-NP-Z0-9]{2}\d{9}$")),
    "HR": ("HR", re.compile(r"^HR\d{11}$")),
    "HU": ("HU", re.compile(r"^HU\d{8}$")),
    "IE": ("IE", re.compile(r"^IE(\d{7}[A-W][A-IW]?|\d[A-Z]\d{5}[A-W])$")),
    "IT": ("IT", re.compile(r"^IT\d{11}$")),
    "LT": ("LT", re.compile(r"^LT(\d{9}|\d{12})$")),
    "LU": ("LU", re.compile(r"^LU\d{8}$")),
    "LV": ("LV", re.compile(r"^LV\d{11}$")),
    "MT": ("MT", re.compile(r"^MT\d{8}$")),
    "NL": ("NL", re.compile(r"^NL\d{9}B\d{2}$")),
    "PL": ("PL", re.compile(r"^PL\d{10}$")),
    "PT": ("PT", re.compile(r"^PT\d{9}$")),
    "RO": ("RO", re.compile(r"^RO\d{2,10}$")),
    "SE": ("SE", re.compile(r"^SE\d{10}01$")),
    "SI": ("SI", re.compile(r"^SI\d{8}$")),
    "SK": ("SK", re.compile(r"^SK\d{10}$")),
    "GB": ("GB", re.compile(r"^GB(\d{9}|\d{12}|GD[0-4]\d{2}|HA[5-9]\d{2})$")),
    "CH": ("CHE", re.compile(r"^CHE\d{9}(MWST|TVA|IVA)?$")),
    "LI": ("CHE", re.compile(r"^CHE\d{9}(MWST|TVA|IVA)?$")),
    "NO": ("NO", re.compile(r"^NO\d{9}(MVA)?$")),
}
# Countries without a table entry: any 4-20 letters and digits (what the schema stores).
GENERIC = re.compile(r"^[A-Z0-9]{4,20}$")
_SEPARATORS = re.compile(r"[\s.\-/]")


def normalize_vat_number(value: str) -> str:
    """Upper case without spaces, dots, hyphens or slashes: "fr 12.345" -> "FR12345"."""
    return _SEPARATORS.sub("", value).upper()


def example(country: str) -> str:
    """A short hint of the expected shape, for error messages."""
    examples = {
        "DE": "DE123456789",
        "FR": "FR12345678901",
        "GB": "GB123456789",
        "NL": "NL123456789B01",
        "AT": "ATU12345678",
        "GR": "EL123456789",
        "CH": "CHE123456789",
    }
    prefix = VAT_FORMATS[country][0] if country in VAT_FORMATS else country
    return examples.get(country, f"{prefix} followed by the national number")


def check_vat_number(value: str, country: str) -> str:
    """The normalised number for `country`, or ValueError saying what shape is expected.

    A number typed without its country prefix gets it ("123456789" for DE becomes
    "DE123456789"). Greek numbers typed with GR are rewritten to EL.
    """
    number = normalize_vat_number(value)
    if country not in VAT_FORMATS:
        if not GENERIC.match(number):
            raise ValueError("must have 4 to 20 letters and digits")
        return number
    prefix, pattern = VAT_FORMATS[country]
    if country == "GR" and number.startswith("GR"):
        number = "EL" + number[2:]
    if not number.startswith(prefix) and number[:2].isdigit():
        number = prefix + number
    if not pattern.match(number):
        raise ValueError(
            f"is not a valid VAT number for {country} (expected like {example(country)})"
        )
    return number


# The 27 member states (ISO 3166-1 codes; Greece is GR here, EL only in VAT numbers).
EU_MEMBER_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
