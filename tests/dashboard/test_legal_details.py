"""The settings page's legal details: saved as the API saves them, errors beside fields."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.tenants.models import LegalDetails
from gateway.tenants.registry import get_tenant, update_settings
from tests.conftest import ApiTenant
from tests.dashboard.desk import Desk, signed_in_desk
from web.i18n import translator

MakeTenant = Callable[..., Coroutine[Any, Any, ApiTenant]]

ALPEAK_SAS = {
    "name": "Alpeak SAS",
    "address_line1": "12 rue Royale",
    "address_line2": "",
    "postal_code": "74000",
    "city": "Annecy",
    "country": "FR",
    "vat_number": "fr 12 345 678 901",
    "registration_number": "RCS Annecy 123 456 789",
}


async def desk_for(
    client: Any, make_tenant: MakeTenant, *, language: str = "en"
) -> tuple[Desk, ApiTenant]:
    alpeak = await make_tenant("alpeak", name="Alpeak Outdoor")
    return await signed_in_desk(client, alpeak.key, language=language), alpeak


def field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="error-{name}">([^<]*)</p>', page)
    assert found is not None, f"no error for {name}"
    return html.unescape(found.group(1))


def input_value(page: str, name: str) -> str:
    found = re.search(rf'<input id="field-{name}" name="{name}" type="text" value="([^"]*)"', page)
    assert found is not None, f"no input {name}"
    return html.unescape(found.group(1))


def selected_country(page: str) -> str | None:
    select = page[page.index('<select id="field-country"') :]
    select = select[: select.index("</select>")]
    found = re.search(r'<option value="([A-Z]*)" selected>', select)
    return None if found is None else found.group(1)


async def test_the_legal_details_are_saved_normalised_and_shown_again(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit("/settings/legal", "/settings/legal", ALPEAK_SAS)
    assert response.status == 303
    assert response.headers["Location"] == "/settings/legal?saved=1"
    tenant = await get_tenant(pool, alpeak.tenant.id)
    assert tenant.legal == LegalDetails(
        name="Alpeak SAS",
        address_line1="12 rue Royale",
        postal_code="74000",
        city="Annecy",
        country="FR",
        vat_number="FR12345678901",
        registration_number="RCS Annecy 123 456 789",
    )
    status, page = await desk.get("/settings/legal?saved=1")
    assert status == 200
    assert "Your changes were saved." in page
    assert input_value(page, "vat_number") == "FR12345678901"
    assert input_value(page, "registration_number") == "RCS Annecy 123 456 789"
    assert selected_country(page) == "FR"
    assert "keep the details they were issued with" in page
    assert 'href="/settings/legal" aria-current="page"' in page


async def test_emptying_a_field_clears_that_detail_only(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    assert (await desk.submit("/settings/legal", "/settings/legal", ALPEAK_SAS)).status == 303
    cleared = {**ALPEAK_SAS, "registration_number": "  "}
    assert (await desk.submit("/settings/legal", "/settings/legal", cleared)).status == 303
    legal = (await get_tenant(pool, alpeak.tenant.id)).legal
    assert (legal.registration_number, legal.name) == (None, "Alpeak SAS")


async def test_a_vat_number_of_another_country_is_refused_in_french_keeping_what_was_typed(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant, language="fr")
    typed = {**ALPEAK_SAS, "country": "DE", "address_line2": "Bâtiment B"}
    response = await desk.submit("/settings/legal", "/settings/legal", typed)
    assert response.status == 422
    page = await response.text()
    english = "Check the VAT number: it must match the country."
    assert field_error(page, "vat_number") == translator("fr").gettext(english) != english
    assert 'aria-describedby="error-vat_number hint-vat_number"' in page
    assert "certains champs" in page.lower()
    for name in ("name", "address_line1", "address_line2", "postal_code", "city"):
        assert input_value(page, name) == typed[name]
    assert input_value(page, "vat_number") == "fr 12 345 678 901"
    assert selected_country(page) == "DE"
    # The country menu is the billing form's, named in the page's language.
    assert '<option value="DE" selected>Allemagne</option>' in page
    assert (await get_tenant(pool, alpeak.tenant.id)).legal == LegalDetails()


async def test_a_vat_number_without_a_country_and_a_too_long_name_are_both_flagged(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    typed = {**ALPEAK_SAS, "country": "", "name": "A" * 201}
    response = await desk.submit("/settings/legal", "/settings/legal", typed)
    assert response.status == 422
    page = await response.text()
    assert field_error(page, "name") == "This is too long."
    assert field_error(page, "vat_number") == (
        "Choose your country: the VAT number is checked against it."
    )
    assert input_value(page, "name") == "A" * 201
    assert (await get_tenant(pool, alpeak.tenant.id)).legal == LegalDetails()


async def test_the_form_is_refused_without_its_security_token(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit("/settings/legal", "/settings/legal", ALPEAK_SAS, token=False)
    assert response.status == 403
    assert (await get_tenant(pool, alpeak.tenant.id)).legal == LegalDetails()


async def test_details_set_through_the_api_fill_the_form(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    await update_settings(
        pool,
        tenant_id=alpeak.tenant.id,
        changes={"legal.name": "Alpeak GmbH", "legal.country": "DE"},
    )
    _, page = await desk.get("/settings/legal")
    assert input_value(page, "name") == "Alpeak GmbH"
    assert selected_country(page) == "DE"
    assert input_value(page, "vat_number") == ""
