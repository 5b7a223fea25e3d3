"""The seller's legal details on the settings page: what the tenant's invoices name it by.

The values go through the same rule as the API's `legal` group
(`gateway.tenants.legal_details`, through the registry); a rejected form is shown
again with everything that was typed and each error beside its field, in the page's
language. Billing copies the details at each finalisation, so the page says that
issued invoices keep the details they were issued with.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp_jinja2
from aiohttp import web

from gateway.dashboard.auth import Desk, signed_in, text_field
from gateway.edge import keys
from gateway.edge.app_host import PREFIX
from gateway.tenants import registry
from gateway.tenants.errors import InvalidTenantInput
from gateway.tenants.legal_details import LEGAL_FIELDS
from gateway.tenants.models import Tenant
from web.billing_form import prepare_billing_form
from web.i18n import Translator

routes = web.RouteTableDef()

# The form's inputs are named as the API's `legal` fields.
FIELDS = tuple(LEGAL_FIELDS)


def _values(tenant: Tenant) -> dict[str, str]:
    return {name: getattr(tenant.legal, name) or "" for name in FIELDS}


def error_message(i18n: Translator, code: str) -> str:
    """A field's error in the page's language, chosen by the rule's error code."""
    if code == "too_long":
        return i18n.gettext("This is too long.")
    if code == "invalid_characters":
        return i18n.gettext("Remove the control characters from this field.")
    if code == "invalid_country":
        return i18n.gettext("Choose a country from the list.")
    if code == "country_required":
        return i18n.gettext("Choose your country: the VAT number is checked against it.")
    if code == "invalid_vat_number":
        return i18n.gettext("Check the VAT number: it must match the country.")
    return i18n.gettext("Check this field.")


def field_errors(i18n: Translator, error: InvalidTenantInput) -> dict[str, str]:
    """The registry's errors keyed by input (`legal.vat_number` is `vat_number`)."""
    return {
        name.removeprefix("legal."): error_message(i18n, error.codes.get(name, "invalid"))
        for name in error.errors
    }


def _render(
    request: web.Request,
    desk: Desk,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status: int = 200,
) -> web.StreamResponse:
    # The same country menu as the customers' billing form, in the page's language.
    countries = prepare_billing_form(desk.language, values=values).countries
    context = desk.context(
        "legal",
        values=values,
        errors=errors,
        countries=countries,
        saved=request.query.get("saved") == "1",
    )
    return aiohttp_jinja2.render_template("dashboard/legal.html", request, context, status=status)


@routes.get("/legal")
@signed_in
async def legal_form(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Legal name, address, VAT and registration numbers, as invoices will print them."""
    return _render(request, desk, values=_values(desk.tenant), errors={})


@routes.post("/legal")
@signed_in
async def legal_save(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Save every field or none; an empty field clears that detail."""
    form = await request.post()
    values = {name: text_field(form, name) for name in FIELDS}
    changes = {f"legal.{name}": value for name, value in values.items()}
    try:
        await registry.update_settings(
            request.config_dict[keys.POOL], tenant_id=desk.tenant.id, changes=changes
        )
    except InvalidTenantInput as error:
        errors = field_errors(desk.i18n, error)
        return _render(request, desk, values=values, errors=errors, status=422)
    raise web.HTTPSeeOther(location=f"{PREFIX}/legal?saved=1")
