"""Customer portal pages on a tenant's host: the overview and the billing information form."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp_jinja2
from aiohttp import web

from billing.customers import SUPPORTED_LANGUAGES, Customer, save_billing_info
from billing.errors import InvalidInput
from billing.formatting import country_names, language_name
from billing.invoices import recent_customer_invoices
from billing.payment_methods import active_payment_methods
from billing.subscriptions import list_customer_subscriptions
from billing.wallets import list_customer_wallets
from gateway import keys
from gateway.errors import Forbidden
from portal.access import Visit, portal_page
from portal.invoice_pages import routes as invoice_routes
from portal.views import (
    CUSTOMER_VISIBLE_INVOICE_STATUSES,
    address_lines,
    country_name,
    invoice_row,
    payment_method_view,
    subscription_view,
    wallet_view,
)
from web.csrf import FIELD_NAME, verify_csrf_token

routes = web.RouteTableDef()

RECENT_INVOICES = 5
# Form field -> the billing API's field name, so validation errors land beside their input.
ADDRESS_FORM_FIELDS = ("line1", "line2", "city", "postal_code", "state", "country")
FORM_FIELDS = ("name", "email", *ADDRESS_FORM_FIELDS, "vat_number", "language")


@routes.get("/portal/{customer_id}")
@portal_page
async def portal_overview(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Subscriptions, payment methods, billing information, wallets and recent invoices."""
    tenant_id, customer_id = visit.tenant.id, visit.customer.id
    # One connection for the page's queries, one after the other: acquiring per query
    # costs more than the queries (bench/notes.md). The customer is the visit's own.
    async with request.config_dict[keys.POOL].acquire() as connection:
        subscriptions = await list_customer_subscriptions(
            connection, tenant_id=tenant_id, customer_id=customer_id
        )
        methods = await active_payment_methods(
            connection, tenant_id=tenant_id, customer_id=customer_id
        )
        wallets = await list_customer_wallets(
            connection, tenant_id=tenant_id, customer_id=customer_id
        )
        invoices = await recent_customer_invoices(
            connection,
            tenant_id=tenant_id,
            customer_id=customer_id,
            statuses=sorted(CUSTOMER_VISIBLE_INVOICE_STATUSES),
            limit=RECENT_INVOICES,
        )
    country = visit.customer.country
    context = {
        **visit.context(request),
        "address_lines": address_lines(visit, visit.customer),
        "country_name": country_name(visit, country) if country is not None else None,
        "subscriptions": [subscription_view(visit, item) for item in subscriptions],
        "payment_methods": methods,
        "payment_method_views": [payment_method_view(visit, item) for item in methods],
        "wallets": wallets,
        "wallet_views": [wallet_view(visit, item) for item in wallets],
        "recent_invoices": [invoice_row(visit, item) for item in invoices],
        "billing_edit_enabled": visit.tenant.portal.billing_edit_enabled,
    }
    return aiohttp_jinja2.render_template("portal/overview.html", request, context)


def _current_values(customer: Customer) -> dict[str, str]:
    return {
        "name": customer.name,
        "email": customer.email or "",
        "line1": customer.address_line1 or "",
        "line2": customer.address_line2 or "",
        "city": customer.city or "",
        "postal_code": customer.postal_code or "",
        "state": customer.state or "",
        "country": customer.country or "",
        "vat_number": customer.vat_number or "",
        "language": customer.language,
    }


def _billing_changes(values: Mapping[str, str]) -> dict[str, object]:
    """The billing API's input for the submitted form; empty inputs clear their field."""

    def optional(name: str) -> str | None:
        return values.get(name, "").strip() or None

    return {
        "name": values.get("name", ""),
        "email": optional("email"),
        "address": {name: optional(name) for name in ADDRESS_FORM_FIELDS},
        "vat_number": optional("vat_number"),
        "language": values.get("language", ""),
    }


def _field_errors(error: InvalidInput) -> dict[str, str]:
    """Errors keyed by form field: `address.city` is the `city` input."""
    found: dict[str, str] = {}
    for name, message in error.errors.items():
        field = name.removeprefix("address.")
        found[field if field in FORM_FIELDS else "form"] = message
    return found


def _render_billing_form(
    request: web.Request,
    visit: Visit,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    saved: bool,
    status: int = 200,
) -> web.Response:
    countries = sorted(country_names(visit.language).items(), key=lambda item: item[1])
    context = {
        **visit.context(request),
        "values": values,
        "errors": errors,
        "saved": saved,
        "countries": [
            (code, name) for code, name in countries if len(code) == 2 and code.isalpha()
        ],
        "languages": [(code, language_name(code, code)) for code in SUPPORTED_LANGUAGES],
    }
    return aiohttp_jinja2.render_template("portal/billing.html", request, context, status=status)


def _require_billing_edit(visit: Visit) -> None:
    if not visit.tenant.portal.billing_edit_enabled:
        raise Forbidden(visit.i18n.gettext("Billing information cannot be changed here."))


@routes.get("/portal/{customer_id}/billing")
@portal_page
async def billing_form(request: web.Request, visit: Visit) -> web.StreamResponse:
    """The billing information form, filled with the saved values."""
    _require_billing_edit(visit)
    return _render_billing_form(
        request,
        visit,
        values=_current_values(visit.customer),
        errors={},
        saved=request.query.get("saved") == "1",
    )


@routes.post("/portal/{customer_id}/billing")
@portal_page
async def billing_save(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Save the billing information: all fields or none; errors shown beside their inputs."""
    form = await request.post()
    verify_csrf_token(request, customer_id=visit.customer.id, token=_text(form.get(FIELD_NAME)))
    _require_billing_edit(visit)
    values = {name: _text(form.get(name)) or "" for name in FORM_FIELDS}
    try:
        await save_billing_info(
            request.config_dict[keys.POOL],
            tenant_id=visit.tenant.id,
            customer_id=visit.customer.id,
            changes=_billing_changes(values),
        )
    except InvalidInput as error:
        return _render_billing_form(
            request, visit, values=values, errors=_field_errors(error), saved=False, status=422
        )
    raise web.HTTPSeeOther(location=f"/portal/{visit.customer.id}/billing?saved=1")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# The invoice pages live in their own module; one table keeps the composition root simple.
for definition in invoice_routes:
    if isinstance(definition, web.RouteDef):
        routes.route(definition.method, definition.path, **definition.kwargs)(definition.handler)
