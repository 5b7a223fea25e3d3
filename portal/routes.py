"""Customer portal pages on a tenant's host: the overview and the billing information form."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from billing.customers import save_billing_info
from billing.invoices import recent_customer_invoices
from billing.past_due import overdue_invoices
from billing.payment_methods import active_payment_methods
from billing.subscriptions import Subscription, list_customer_subscriptions
from billing.wallets import list_customer_wallets
from gateway.edge import keys
from gateway.edge.errors import Forbidden
from kernel import clock
from portal.access import Visit, portal_page
from portal.invoice_pages import routes as invoice_routes
from portal.page_cache import cached_page, expire_at
from portal.past_due import overdue_by_subscription
from portal.views import (
    CUSTOMER_VISIBLE_INVOICE_STATUSES,
    address_lines,
    country_name,
    invoice_row,
    payment_method_view,
    subscription_view,
    wallet_view,
)
from web.billing_form import customer_values, prepare_billing_form, submit_billing_form
from web.csrf import FIELD_NAME, verify_csrf_token
from web.page_templates import render_page

routes = web.RouteTableDef()

RECENT_INVOICES = 5


@routes.get("/portal/{customer_id}")
@portal_page
@cached_page("overview")
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
            with_lines=False,  # the table shows totals only
        )
        overdue = await overdue_invoices(connection, tenant_id=tenant_id, customer_id=customer_id)
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
        "past_due": overdue_by_subscription(visit, overdue),
    }
    response = render_page("portal/overview.html", request, context, i18n=visit.i18n)
    expire_at(response, next_period_change(subscriptions))
    return response


def next_period_change(subscriptions: list[Subscription]) -> float | None:
    """When the first period or trial the page shows ends (Unix time), if one lies ahead."""
    now = clock.utc_now()
    ends = [
        moment
        for item in subscriptions
        for moment in (item.current_period_end, item.trial_end)
        if moment is not None and moment > now
    ]
    return min(ends).timestamp() if ends else None


def _render_billing_form(
    request: web.Request,
    visit: Visit,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    saved: bool,
    status: int = 200,
) -> web.Response:
    context = {
        **visit.context(request),
        "form": prepare_billing_form(
            visit.language, values=values, errors=errors, with_language=True
        ),
        "saved": saved,
    }
    return render_page("portal/billing.html", request, context, i18n=visit.i18n, status=status)


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
        values=customer_values(visit.customer, language=True),
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
    pool = request.config_dict[keys.POOL]

    async def save(changes: dict[str, object]) -> None:
        await save_billing_info(
            pool, tenant_id=visit.tenant.id, customer_id=visit.customer.id, changes=changes
        )

    submission = await submit_billing_form(form, save, language=True, i18n=visit.i18n)
    if submission.errors:
        return _render_billing_form(
            request,
            visit,
            values=submission.values,
            errors=submission.errors,
            saved=False,
            status=422,
        )
    raise web.HTTPSeeOther(location=f"/portal/{visit.customer.id}/billing?saved=1")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# The invoice pages live in their own module; one table keeps the composition root simple.
for definition in invoice_routes:
    if isinstance(definition, web.RouteDef):
        routes.route(definition.method, definition.path, **definition.kwargs)(definition.handler)
