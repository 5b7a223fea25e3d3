"""The tenant's legal details, printed on its invoices: checked as a group, stored as columns.

EU invoices name the seller's legal name, address and VAT number (Council Directive
2006/112/EC, article 226); many countries also ask for a company registration number.
Billing takes its own copy at each finalisation (migration 0011), so a change here
reaches only invoices issued afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.addresses import check_postal_code
from billing.countries import check_country
from billing.errors import RuleViolation
from gateway.tenants.errors import InvalidTenantInput
from kernel.text import control_character_reason
from kernel.vat_numbers import check_vat_number

# API field (under `legal`) -> (column, maximum length)
LEGAL_FIELDS = {
    "name": ("legal_name", 200),
    "address_line1": ("legal_address_line1", 200),
    "address_line2": ("legal_address_line2", 200),
    "postal_code": ("legal_postal_code", 20),
    "city": ("legal_city", 100),
    "country": ("legal_country", 2),
    "vat_number": ("legal_vat_number", 20),
    "registration_number": ("legal_registration_number", 100),
}


def _text(field: str, value: Any, maximum: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidTenantInput({field: "must be a string or null"})
    text: str = value.strip()
    if not text:
        return None
    if len(text) > maximum:
        raise InvalidTenantInput(
            {field: f"must be at most {maximum} characters"}, {field: "too_long"}
        )
    reason = control_character_reason(text)
    if reason is not None:
        raise InvalidTenantInput({field: reason}, {field: "invalid_characters"})
    return text


def check_legal_details(
    changes: Mapping[str, Any], current: Mapping[str, str | None]
) -> dict[str, str | None]:
    """Stored values of the `legal.*` fields in `changes`; InvalidTenantInput lists every error.

    The VAT number is checked for the country it will have after the change (the
    same shapes as customers' numbers, `kernel.vat_numbers`), and needs one.
    """
    errors: dict[str, str] = {}
    codes: dict[str, str] = {}
    values: dict[str, str | None] = {}
    for field, value in changes.items():
        name = field.removeprefix("legal.")
        if name not in LEGAL_FIELDS:
            errors[field] = "is not a setting"
            continue
        try:
            values[field] = _text(field, value, LEGAL_FIELDS[name][1])
        except InvalidTenantInput as error:
            errors.update(error.errors)
            codes.update(error.codes)
    country = values.get("legal.country", current.get("legal.country"))
    if "legal.country" in values and country is not None:
        try:
            country = values["legal.country"] = check_country(country)
        except RuleViolation as violation:
            errors["legal.country"], codes["legal.country"] = violation.message, violation.code
    _check_postal_code(values, current, country, errors, codes)
    vat_number = values.get("legal.vat_number", current.get("legal.vat_number"))
    changed = "legal.vat_number" in values or "legal.country" in values
    if vat_number is not None and changed and "legal.country" not in errors:
        if country is None:
            errors["legal.vat_number"] = "needs legal.country to be checked"
            codes["legal.vat_number"] = "country_required"
        else:
            try:
                values["legal.vat_number"] = check_vat_number(vat_number, country)
            except ValueError as error:
                errors["legal.vat_number"] = str(error)
                codes["legal.vat_number"] = "invalid_vat_number"
    if errors:
        raise InvalidTenantInput(errors, codes)
    return values


def _check_postal_code(
    values: dict[str, str | None],
    current: Mapping[str, str | None],
    country: str | None,
    errors: dict[str, str],
    codes: dict[str, str],
) -> None:
    """The postal code must be one the (new) country writes: the customers' rule, billing's."""
    field = "legal.postal_code"
    postal_code = values.get(field, current.get(field))
    if postal_code is None or "legal.country" in errors:
        return
    if field not in values and "legal.country" not in values:
        return
    try:
        checked = check_postal_code(postal_code, country)
    except RuleViolation as violation:
        errors[field], codes[field] = violation.message, violation.code
        return
    if field in values:
        values[field] = checked
