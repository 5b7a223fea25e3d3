"""The field rules are written once: the billing form's checks and the API's types agree."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from billing import validation
from billing.countries import validate_country
from billing.errors import InvalidInput
from billing.fields import AddressInput, Email, Name, Request, field_violations
from billing.vat import validate_vat_number


class Form(Request):
    name: Name
    email: Email | None = None
    address: AddressInput | None = None


def api_codes(body: dict[str, Any], model: type[BaseModel] = Form) -> dict[str, str]:
    try:
        model.model_validate(body)
    except ValidationError as error:
        return {field: code for field, (code, _) in field_violations(error).items()}
    return {}


def form_codes(body: dict[str, Any]) -> dict[str, str]:
    errors = validation.FieldErrors()
    validation.text(errors, "name", body.get("name"), maximum=200, required=True, one_line=True)
    if "email" in body:
        validation.email(errors, "email", body["email"])
    city = body.get("address", {}).get("city")
    if city is not None:
        validation.text(errors, "address.city", city, maximum=100)
    return errors.codes


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "Ada"}, {}),
        ({"name": "  "}, {"name": "too_short"}),
        ({"name": "x" * 201}, {"name": "too_long"}),
        ({"name": "Ada\x1b[2J"}, {"name": "invalid_characters"}),
        ({"name": "Ada", "email": "ada@"}, {"email": "invalid_email"}),
        ({"name": "Ada", "email": "ada@example.com"}, {}),
        ({"name": "Ada", "address": {"city": "c" * 101}}, {"address.city": "too_long"}),
    ],
)
def test_the_form_and_the_api_give_the_same_code(
    body: dict[str, Any], expected: dict[str, str]
) -> None:
    assert form_codes(body) == expected
    assert api_codes(body) == expected


def test_a_missing_required_field_and_an_unknown_one_are_coded() -> None:
    assert api_codes({"nickname": "x"}) == {"name": "required", "nickname": "unknown_field"}


def test_a_bad_country_is_refused_with_its_code_by_both() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_country("XX")
    assert refused.value.codes == {"address.country": "invalid_country"}
    assert api_codes({"name": "Ada", "address": {"country": "XX"}}) == {
        "address.country": "invalid_country"
    }
    assert validate_country(" fr ") == "FR"


def test_a_vat_number_that_does_not_fit_its_country_is_coded() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_vat_number("DE123", country="FR")
    assert refused.value.codes == {"vat_number": "invalid_vat_number"}
    with pytest.raises(InvalidInput) as refused:
        validate_vat_number("FR12345678901", country=None)
    assert refused.value.codes == {"vat_number": "country_required"}


def test_collected_errors_keep_the_first_code_per_field() -> None:
    errors = validation.FieldErrors()
    errors.add("email", "must be an e-mail address", "invalid_email")
    errors.add("email", "is required", "required")
    with pytest.raises(InvalidInput) as refused:
        errors.raise_if_any()
    assert refused.value.errors == {"email": "must be an e-mail address"}
    assert refused.value.codes == {"email": "invalid_email"}
