"""The billing form written once: what a submitted form changes, where errors land, its words."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from billing.errors import InvalidInput
from web import assets
from web.billing_form import (
    billing_changes,
    field_errors,
    form_fields,
    input_messages,
    prepare_billing_form,
    submit_billing_form,
    submitted_values,
)
from web.i18n import Translator, install_gettext

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
PAGE = """{% from "web/billing_form.html" import billing_fields with context %}
{{ billing_fields(form, required=required, group_address=group_address) }}"""


def render(form: object, language: str, **options: object) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    install_gettext(environment)
    context = {"required": (), "group_address": True, **options}
    return environment.from_string(PAGE).render(form=form, i18n=Translator(language), **context)


def test_an_empty_input_clears_its_field_and_only_a_form_with_a_language_input_sends_one() -> None:
    form = {"name": " Ada ", "email": "", "line1": "1 Rue Haute", "country": "FR", "x": "y"}
    changes = billing_changes(submitted_values(form, language=False))
    assert changes == {
        "name": "Ada",
        "email": None,
        "address": {
            "line1": "1 Rue Haute",
            "line2": None,
            "city": None,
            "postal_code": None,
            "state": None,
            "country": "FR",
        },
        "vat_number": None,
    }
    with_language = billing_changes(submitted_values({**form, "language": "fr"}, language=True))
    assert with_language["language"] == "fr"


def test_an_address_error_lands_beside_its_input_and_an_unknown_one_above_the_form() -> None:
    error = InvalidInput(
        {"address.city": "must not be empty", "vat_number": "wrong", "currency": "unknown"}
    )
    assert field_errors(error) == {
        "city": "must not be empty",
        "vat_number": "wrong",
        "form": "unknown",
    }
    # The language is an input of the portal's form only.
    assert field_errors(InvalidInput({"language": "no"})) == {"form": "no"}
    assert field_errors(InvalidInput({"language": "no"}), fields=form_fields(language=True)) == {
        "language": "no"
    }


async def test_a_refused_submission_keeps_what_was_typed_and_names_each_wrong_input() -> None:
    saved: list[dict[str, object]] = []

    async def refuse(changes: dict[str, object]) -> None:
        raise InvalidInput({"email": "must be an e-mail address", "address.postal_code": "long"})

    async def accept(changes: dict[str, object]) -> None:
        saved.append(changes)

    typed = {"name": "Ada", "email": "not-an-address", "postal_code": "9" * 30}
    refused = await submit_billing_form(typed, refuse, language=False)
    assert refused.values["email"] == "not-an-address"
    assert refused.values["postal_code"] == "9" * 30
    assert set(refused.errors) == {"email", "postal_code"}
    accepted = await submit_billing_form(typed, accept, language=False)
    assert accepted.errors == {}
    assert [changes["name"] for changes in saved] == ["Ada"]


def test_a_french_page_shows_the_form_in_french_with_its_errors_tied_to_their_inputs() -> None:
    form = prepare_billing_form(
        "fr",
        values={"name": "Ada", "email": "x", "country": "DE"},
        errors={"email": "must be an e-mail address"},
        with_language=True,
    )
    text = render(form, "fr")
    assert '<label for="field-line1">Adresse (ligne 1)</label>' in text
    assert "<legend>Adresse</legend>" in text
    assert '<option value="DE" selected>Allemagne</option>' in text
    assert re.search(
        r'id="field-email"[^>]*aria-invalid="true" aria-describedby="error-email"', text
    )
    assert '<p class="field-error" id="error-email">must be an e-mail address</p>' in text
    # Inputs without an error have no empty error slot to announce.
    assert 'id="error-name"' not in text
    assert 'name="language"' in text


def test_a_scripted_form_has_a_slot_with_its_message_under_every_input() -> None:
    form = prepare_billing_form("fr", values={}, messages=input_messages(Translator("fr")))
    text = render(form, "fr", required=("name", "email"), group_address=False)
    controls = re.findall(r'<(?:input|select) id="field-(\w+)"', text)
    assert controls == [
        "name",
        "email",
        "line1",
        "line2",
        "postal_code",
        "city",
        "state",
        "country",
        "vat_number",
    ]
    for name in controls:
        assert re.search(rf'id="field-{name}"[^>]*aria-describedby="error-{name}"', text), name
        assert re.search(rf'id="error-{name}" data-message="[^"]+"', text), name
    assert 'data-message="Indiquez une adresse e-mail valide."' in text
    assert text.count("(obligatoire)") == 2
    assert "<fieldset>" not in text
    assert 'name="language"' not in text


def test_the_shared_script_types_no_sentence_of_its_own() -> None:
    script = (assets.STATIC_DIRECTORY / "billing_form.js").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    # Every word it shows is the page's (data-message, translated there).
    assert not re.search(r'textContent\s*=\s*"[^"]*[A-Za-z]', code)
    assert "slot.dataset.message" in code
