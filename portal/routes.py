"""Customer portal pages on a tenant's host: the overview of a customer's billing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from billing.customers import Customer, get_customer
from billing.money import format_amount
from billing.subscriptions import Subscription, SubscriptionItem, list_customer_subscriptions
from gateway import keys
from gateway.branding import brand_context
from gateway.errors import NotFound
from gateway.tenants.models import Tenant

routes = web.RouteTableDef()

# The portal's words are English for now; amounts follow the same language so a page
# never mixes "1,234.50" and "1.234,50".
PAGE_LANGUAGE = "en"

STATUS_LABELS = {
    "incomplete": "Incomplete",
    "trialing": "Trial",
    "active": "Active",
    "past_due": "Past due",
    "paused": "Paused",
    "canceled": "Canceled",
}


@dataclass(frozen=True, kw_only=True)
class ItemView:
    name: str
    quantity: int
    unit_price: str
    amount: str
    interval: str


@dataclass(frozen=True, kw_only=True)
class SubscriptionView:
    id: str
    plan_name: str
    status: str
    status_label: str
    period: str
    ends_on: str | None
    trial_ends_on: str | None
    items: list[ItemView]


def format_date(moment: datetime) -> str:
    """A date readers in any country parse the same way: 1 Mar 2026."""
    return f"{moment.day} {moment:%b %Y}"


def format_interval(interval: str, count: int) -> str:
    """`month`, or `3 months`."""
    return interval if count == 1 else f"{count} {interval}s"


def _item_view(item: SubscriptionItem, currency: str, language: str) -> ItemView:
    # per_unit: unit_amount x quantity each period; flat: unit_amount whatever the quantity.
    amount = (
        item.unit_amount * item.quantity if item.price_model == "per_unit" else item.unit_amount
    )
    return ItemView(
        name=item.name,
        quantity=item.quantity,
        unit_price=format_amount(item.unit_amount, currency, language),
        amount=format_amount(amount, currency, language),
        interval=format_interval(item.billing_interval, item.interval_count),
    )


def subscription_view(subscription: Subscription, language: str) -> SubscriptionView:
    """What the overview shows of one subscription, amounts in its own currency."""
    ends = subscription.cancel_at_period_end and subscription.status != "canceled"
    trial = subscription.status == "trialing" and subscription.trial_end is not None
    return SubscriptionView(
        id=subscription.id,
        plan_name=subscription.plan_name,
        status=subscription.status,
        status_label=STATUS_LABELS.get(subscription.status, subscription.status),
        period=f"{format_date(subscription.current_period_start)} – "
        f"{format_date(subscription.current_period_end)}",
        ends_on=format_date(subscription.current_period_end) if ends else None,
        trial_ends_on=(
            format_date(subscription.trial_end)
            if trial and subscription.trial_end is not None
            else None
        ),
        items=[_item_view(item, subscription.currency, language) for item in subscription.items],
    )


def address_lines(customer: Customer) -> list[str]:
    """The billing address as printed on an envelope, empty parts left out."""
    town = " ".join(part for part in (customer.postal_code, customer.city) if part)
    parts = (customer.address_line1, customer.address_line2, town, customer.state, customer.country)
    return [part for part in parts if part]


def portal_tenant(request: web.Request) -> Tenant:
    """The tenant whose portal this host serves; NotFound where there is no portal."""
    tenant: Tenant | None = request.get(keys.TENANT)
    if tenant is None:
        raise NotFound("there is no portal at this address")
    # Tenants that hand out signed links do not let a bare customer id open the portal.
    if tenant.portal.link_mode != "customer_id":
        raise NotFound("there is no such customer")
    return tenant


@routes.get("/portal/{customer_id}")
async def portal_overview(request: web.Request) -> web.Response:
    """The customer's name, billing information and subscriptions, in the tenant's brand."""
    tenant = portal_tenant(request)
    customer_id = request.match_info["customer_id"]
    pool = request.config_dict[keys.POOL]
    # get_customer raises NotFound for malformed ids and for other tenants' customers alike.
    customer = await get_customer(pool, tenant_id=tenant.id, customer_id=customer_id)
    subscriptions = await list_customer_subscriptions(
        pool, tenant_id=tenant.id, customer_id=customer.id
    )
    context: dict[str, Any] = {
        "brand": brand_context(tenant),
        "customer": customer,
        "address_lines": address_lines(customer),
        "language": PAGE_LANGUAGE,
        "subscriptions": [subscription_view(item, PAGE_LANGUAGE) for item in subscriptions],
    }
    return aiohttp_jinja2.render_template("portal/overview.html", request, context)
