"""The billing information form of the customer-facing pages, written once.

The portal (`/portal/{customer_id}/billing`) and checkout (`/checkout/{session_id}`)
show the same inputs, named as here, through the `billing_fields` macro of
`web/templates/web/billing_form.html`; `web/static/billing_form.js` shows a 422 problem
document's field errors beside their inputs on a page that posts the form with a
script. This module turns a submitted form into the billing API's changes, and the
billing service's `InvalidInput` into errors keyed by input, so that a page is shown
again with what the customer typed. The checks themselves are the billing service's
(`billing/customers.py` through `billing/validation.py`); none is repeated here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from billing.countries import country_choices
from billing.customers import Customer
from billing.errors import InvalidInput
from billing.formatting import language_name
from web.catalogues import offered_languages
from web.i18n import DEFAULT_LANGUAGE, Translator

ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "state", "country")
FIELDS = ("name", "email", *ADDRESS_FIELDS, "vat_number")
LANGUAGE_FIELD = "language"
# The key of an error that no input owns (an unknown field, say): shown above the form.
GENERAL_ERROR = "form"


def form_fields(*, language: bool) -> tuple[str, ...]:
    """The inputs of the form; `language` adds the customer's language (the portal's)."""
    return (*FIELDS, LANGUAGE_FIELD) if language else FIELDS


def submitted_values(form: Mapping[str, object], *, language: bool) -> dict[str, str]:
    """What the customer typed into each input, as typed ('' for an input not sent)."""
    return {
        name: value if isinstance(value := form.get(name), str) else ""
        for name in form_fields(language=language)
    }


def customer_values(customer: Customer, *, language: bool) -> dict[str, str]:
    """The inputs filled with the customer's saved billing information."""
    values = {
        "name": customer.name,
        "email": customer.email or "",
        "line1": customer.address_line1 or "",
        "line2": customer.address_line2 or "",
        "city": customer.city or "",
        "postal_code": customer.postal_code or "",
        "state": customer.state or "",
        "country": customer.country or "",
        "vat_number": customer.vat_number or "",
    }
    if language:
        values[LANGUAGE_FIELD] = customer.language
    return values


def billing_changes(values: Mapping[str, str]) -> dict[str, object]:
    """The billing API's changes for the submitted `values`; an empty input clears its field.

    The whole address is sent, so a field left empty is cleared rather than kept;
    `language` is sent only when the form has that input.
    """

    def optional(name: str) -> str | None:
        return values.get(name, "").strip() or None

    changes: dict[str, object] = {
        "name": values.get("name", "").strip(),
        "email": optional("email"),
        "address": {name: optional(name) for name in ADDRESS_FIELDS},
        "vat_number": optional("vat_number"),
    }
    if LANGUAGE_FIELD in values:
        changes[LANGUAGE_FIELD] = values[LANGUAGE_FIELD]
    return changes


def field_errors(
    error: InvalidInput, *, fields: Sequence[str] = FIELDS, i18n: Translator | None = None
) -> dict[str, str]:
    """The service's errors keyed by input (`address.city` is `city`); others under `form`.

    With `i18n` in another language than English, each error is said in that language,
    chosen by the error's code (the service's own words are English).
    """
    found: dict[str, str] = {}
    for name, message in error.errors.items():
        input_name = name.removeprefix("address.")
        if i18n is not None and i18n.language != DEFAULT_LANGUAGE:
            message = error_text(i18n, input_name, error.codes.get(name, "invalid"))
        found.setdefault(input_name if input_name in fields else GENERAL_ERROR, message)
    return found


def error_text(i18n: Translator, field: str, code: str) -> str:
    """A field error in the reader's language, by its code, else by the field it is on."""
    if code == "required":
        return i18n.gettext("This field is required.")
    if code == "too_long":
        return i18n.gettext("This is too long.")
    if code == "invalid_characters":
        return i18n.gettext("Remove the control characters from this field.")
    if code == "invalid_postal_code":
        return i18n.gettext("This is not a postal code of the chosen country or region.")
    by_code = {"invalid_email": "email", "invalid_country": "country"}
    by_code |= dict.fromkeys(("invalid_vat_number", "country_required"), "vat_number")
    messages = input_messages(i18n)
    return messages.get(by_code.get(code, field)) or i18n.gettext("Check this field.")


@dataclass(frozen=True)
class Submission:
    """A submitted form: the values to show again, and the errors beside their inputs."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


async def submit_billing_form(
    form: Mapping[str, object],
    save: Callable[[dict[str, object]], Awaitable[object]],
    *,
    language: bool,
    i18n: Translator | None = None,
) -> Submission:
    """Parse `form`, `save` its changes through the billing service, collect its field errors.

    `save` validates and stores all fields or none; when it refuses them (InvalidInput)
    the submission carries each error under its input and nothing was stored.
    """
    values = submitted_values(form, language=language)
    try:
        await save(billing_changes(values))
    except InvalidInput as error:
        fields = form_fields(language=language)
        return Submission(values, field_errors(error, fields=fields, i18n=i18n))
    return Submission(values)


def input_messages(i18n: Translator) -> dict[str, str]:
    """What a page's script shows under each input the customer must correct."""
    return {
        "name": i18n.gettext("Enter your name."),
        "email": i18n.gettext("Enter a valid email address."),
        "line1": i18n.gettext("Check the first address line."),
        "line2": i18n.gettext("Check the second address line."),
        "postal_code": i18n.gettext("Check the postal code."),
        "city": i18n.gettext("Check the city."),
        "state": i18n.gettext("Check the state or region."),
        "country": i18n.gettext("Choose a country from the list."),
        "vat_number": i18n.gettext("Check the VAT number: it must match the country."),
    }


@dataclass(frozen=True, kw_only=True)
class BillingForm:
    """What the `billing_fields` macro shows.

    `errors` are shown at once beside their inputs (a page the server renders again);
    `messages` wait hidden in each input's error slot for the page's script; `languages`
    empty means the form has no language input.
    """

    values: Mapping[str, str]
    errors: Mapping[str, str]
    messages: Mapping[str, str]
    countries: Sequence[tuple[str, str]]
    languages: Sequence[tuple[str, str]]


def _sort_country_menus() -> None:
    for language in offered_languages():
        country_choices(language)


async def country_menus(_app: object) -> AsyncIterator[None]:
    """A cleanup context: each offered language's country menu, sorted before serving.

    Reading the collation table takes about 0.3 s: done in a thread at start-up, not on
    the event loop by the first billing form a customer opens.
    """
    await asyncio.to_thread(_sort_country_menus)
    yield


def prepare_billing_form(
    language: str,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str] | None = None,
    messages: Mapping[str, str] | None = None,
    with_language: bool = False,
) -> BillingForm:
    """The form in the page's `language`: countries in collation order, languages in their own
    words."""
    return BillingForm(
        values=values,
        errors=errors or {},
        messages=messages or {},
        countries=country_choices(language),
        languages=[(code, language_name(code, code)) for code in offered_languages()]
        if with_language
        else [],
    )
