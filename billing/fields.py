"""Field rules shared by the tenant API and the customer-facing billing form, each written once.

A rule is a plain function that returns the normalised value or raises
`RuleViolation` with a stable machine code and an English message. The same
rules are offered as pydantic types (`Name`, `Email`, `Country`...) for the
API's request models, and `billing.validation` calls them for the forms, so
both surfaces accept and refuse exactly the same values with the same codes.

Codes clients may switch on: `required`, `unknown_field`, `wrong_type`,
`too_short`, `too_long`, `out_of_range`, `not_allowed`, `invalid_characters`,
`invalid_email`, `invalid_country`, `invalid_postal_code`, `invalid_currency`,
`invalid_vat_number`, `country_required`, `invalid_url`, `invalid` (anything else).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from billing.addresses import check_postal_code
from billing.countries import check_country
from billing.errors import InvalidInput, RuleViolation
from billing.vat import validate_vat_number
from kernel.text import control_character_reason, unstorable_reason

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_MAX = 200
EMAIL_MAX = 254
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500


def check_text(value: str, *, maximum: int, minimum: int = 1, one_line: bool = False) -> str:
    """`value` stripped, of `minimum`..`maximum` characters, that PostgreSQL can store.

    Never a NUL or a lone surrogate; with `one_line` (names, shown in terminals and
    page titles) no control character at all, newlines included.
    """
    stripped = value.strip()
    problem = control_character_reason(stripped) if one_line else unstorable_reason(stripped)
    if problem is not None:
        raise RuleViolation("invalid_characters", problem)
    if len(stripped) < minimum:
        message = "must not be empty" if minimum == 1 else f"needs {minimum}+ characters"
        raise RuleViolation("too_short", message)
    if len(stripped) > maximum:
        raise RuleViolation("too_long", f"must have at most {maximum} characters")
    return stripped


def check_email(value: str) -> str:
    """An e-mail address of a plausible shape (one @, a dot in the domain)."""
    found = check_text(value, maximum=EMAIL_MAX)
    if not EMAIL.match(found):
        raise RuleViolation("invalid_email", "must be an e-mail address such as name@example.com")
    return found


def check_integer(value: Any, *, minimum: int, maximum: int) -> int:
    """An integer (not a boolean) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleViolation("wrong_type", "must be an integer")
    if not minimum <= value <= maximum:
        raise RuleViolation("out_of_range", f"must be between {minimum} and {maximum}")
    return value


def _as_type(rule: Callable[[str], str]) -> AfterValidator:
    """A pydantic validator running `rule`, its violation reported under the rule's code."""

    def validate(value: str) -> str:
        try:
            return rule(value)
        except RuleViolation as violation:
            raise PydanticCustomError(violation.code, violation.message) from None

    return AfterValidator(validate)


def _text_rule(maximum: int, *, one_line: bool = False) -> Callable[[str], str]:
    return lambda value: check_text(value, maximum=maximum, one_line=one_line)


Name = Annotated[
    str, _as_type(_text_rule(NAME_MAX, one_line=True)), Field(min_length=1, max_length=NAME_MAX)
]
Email = Annotated[str, _as_type(check_email), Field(max_length=EMAIL_MAX)]
Country = Annotated[
    str,
    _as_type(check_country),
    Field(max_length=2, description="ISO 3166-1 alpha-2 code, such as FR."),
]


def _text(maximum: int, *, one_line: bool = False) -> Any:
    """A storable string of at most `maximum` characters, stripped (one line: no controls)."""
    return (
        _as_type(_text_rule(maximum, one_line=one_line)),
        Field(min_length=1 if one_line else 0, max_length=maximum),
    )


AddressLine = Annotated[str, *_text(200)]
City = Annotated[str, *_text(100)]
PostalCode = Annotated[str, *_text(20)]
Region = Annotated[str, *_text(100)]
Label = Annotated[str, *_text(200, one_line=True)]
VatNumber = Annotated[
    str,
    Field(
        max_length=40,
        description="Checked against the format of address.country; needs a country.",
    ),
]


def check_vat_number(value: str, country: str | None) -> str:
    """The normalised VAT number for `country` (a number needs one), or RuleViolation."""
    try:
        return validate_vat_number(value, country=country)
    except InvalidInput as error:
        raise RuleViolation(error.codes["vat_number"], error.errors["vat_number"]) from None


SUPPORTED_LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt", "sv", "da", "nb", "fi", "pl")


def check_language(value: str) -> str:
    """One of the languages pages and invoices are written in, lower-cased."""
    if value.lower() not in SUPPORTED_LANGUAGES:
        raise RuleViolation("not_allowed", "must be one of " + ", ".join(SUPPORTED_LANGUAGES))
    return value.lower()


Language = Annotated[
    str, _as_type(check_language), WithJsonSchema({"enum": list(SUPPORTED_LANGUAGES)})
]
Metadata = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=MAX_METADATA_KEY)],
        Annotated[str, Field(max_length=MAX_METADATA_VALUE)],
    ],
    Field(
        max_length=MAX_METADATA_KEYS,
        description="Your own string labels; at most 50 keys.",
    ),
]


def optional(**kwargs: Any) -> Any:
    """A field the client may leave out (then absent from the dumped body), never null.

    Typed `Any` so that `name: Name = optional()` reads as what it is; the JSON
    Schema shows no `default`, since leaving a field out is not sending null.
    """
    extra: dict[str, Any] = kwargs.pop("json_schema_extra", {})

    def document(schema: dict[str, Any]) -> None:
        schema.pop("default", None)
        schema.update(extra)

    return Field(default=None, json_schema_extra=document, **kwargs)


class Request(BaseModel):
    """Base of request models: unknown fields are errors, strings are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class AddressInput(Request):
    """A billing address; sub-fields left out keep their value, null clears one."""

    line1: AddressLine | None = None
    line2: AddressLine | None = None
    city: City | None = None
    state: Region | None = None
    country: Country | None = None
    # After country and state, which it is checked against.
    postal_code: PostalCode | None = Field(
        default=None, description="Checked against the format of country (and of its state)."
    )

    @field_validator("postal_code")
    @classmethod
    def _postal_code_fits_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Normalised, and fitting the country sent with it; else the service checks it
        against the stored country."""
        if value is None or info.data.get("country") is None:
            return value
        try:
            return check_postal_code(value, info.data["country"], info.data.get("state"))
        except RuleViolation as violation:
            raise PydanticCustomError(violation.code, violation.message) from None


# pydantic's own error types -> our codes (the rules above already use ours).
_PYDANTIC_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "too_short": "too_short",
    "too_long": "too_long",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "greater_than": "out_of_range",
    "less_than": "out_of_range",
    "literal_error": "not_allowed",
    "enum": "not_allowed",
    "string_pattern_mismatch": "invalid",
}
_MESSAGES = {
    "required": "is required",
    "unknown_field": "unknown field",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be an array",
    "datetime_type": "must be a date-time such as 2026-01-31T12:00:00Z",
    "datetime_parsing": "must be a date-time such as 2026-01-31T12:00:00Z",
    "datetime_from_date_parsing": "must be a date-time such as 2026-01-31T12:00:00Z",
}


def vat_fits_country(value: str | None, address: Any, *, country_required: bool) -> None:
    """For a model validator: the VAT number fits the address's country sent with it.

    Without a country in the same body the check needs one only when
    `country_required` (a new customer); otherwise the service checks it against
    the stored country.
    """
    if value is None or (address is None and not country_required):
        return
    sent = address is not None and "country" in address.model_fields_set
    if not sent and not country_required:
        return
    try:
        check_vat_number(value, address.country if address is not None else None)
    except RuleViolation as violation:
        raise PydanticCustomError(violation.code, violation.message) from None


def _code(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind in _PYDANTIC_CODES:
        return _PYDANTIC_CODES[kind]
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_attributes_type":
        return "wrong_type"
    return kind if kind.islower() and " " not in kind else "invalid"


def _message(error: ErrorDetails, code: str) -> str:
    context = error.get("ctx", {})
    if code in _MESSAGES:
        return _MESSAGES[code]
    if error["type"] in _MESSAGES:
        return _MESSAGES[error["type"]]
    if error["type"] in ("string_too_long", "too_long"):
        limit = context.get("max_length")
        unit = "characters" if error["type"] == "string_too_long" else "items"
        return f"must have at most {limit} {unit}"
    if error["type"] == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    if code == "out_of_range":
        bound = next(iter(context.values()), "")
        return {"greater_than_equal": "must be at least", "less_than_equal": "must be at most"}.get(
            error["type"], "must be"
        ) + (f" {bound}" if bound != "" else "")
    message = error["msg"]
    return message[:1].lower() + message[1:]


def field_violations(
    error: ValidationError, prefix: Iterable[str] = ()
) -> dict[str, tuple[str, str]]:
    """{dotted field path: (code, message)} for every problem pydantic found, in body order."""
    found: dict[str, tuple[str, str]] = {}
    for detail in error.errors(include_url=False):
        location = [*prefix, *(str(part) for part in detail["loc"])]
        location = location or ["body"]
        code = _code(detail)
        found.setdefault(".".join(location), (code, _message(detail, code)))
    return found
