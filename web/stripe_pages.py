"""What a page that takes a card needs: the Stripe client for the tenant, Stripe.js and its CSP."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from billing.stripe_gateway import PaymentsUnavailable, StripePayments
from billing.stripe_refunds import StripeRefunds
from gateway.edge import keys
from gateway.tenants.models import Tenant
from gateway.tenants.registry import stripe_secret_key
from web.headers import CONTENT_SECURITY_POLICY


def stripe_api_base(request: web.Request) -> str:
    """Where the `stripe` SDK sends requests (settings `stripe_api_base`, else Stripe)."""
    settings = request.config_dict[keys.SETTINGS]
    return settings.stripe_api_base


def stripe_js_url(request: web.Request) -> str:
    """The Stripe.js script pages load (settings `stripe_js_url`, else the real one)."""
    settings = request.config_dict[keys.SETTINGS]
    return settings.stripe_js_url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_page_policy(request: web.Request) -> str:
    """The page CSP with Stripe.js's origin added to scripts, frames and connections."""
    script_origin = _origin(stripe_js_url(request))
    api_origin = _origin(stripe_api_base(request))
    directives = []
    for directive in CONTENT_SECURITY_POLICY.split("; "):
        if directive.startswith("script-src"):
            directive += f" {script_origin}"
        elif directive.startswith("connect-src"):
            directive += f" {api_origin} {script_origin}"
        directives.append(directive)
    directives.append(f"frame-src {script_origin}")
    return "; ".join(directives)


async def _tenant_secret_key(request: web.Request, tenant: Tenant) -> str:
    key = await stripe_secret_key(
        request.config_dict[keys.POOL], request.config_dict[keys.SEALER], tenant_id=tenant.id
    )
    if key is None:
        raise PaymentsUnavailable()
    return key


async def payments_for(request: web.Request, tenant: Tenant) -> StripePayments:
    """A Stripe client with the tenant's own secret key; PaymentsUnavailable without one."""
    key = await _tenant_secret_key(request, tenant)
    return StripePayments(api_key=key, api_base=stripe_api_base(request))


async def refunds_for(request: web.Request, tenant: Tenant) -> StripeRefunds:
    """Cancels and refunds through the tenant's own Stripe key; PaymentsUnavailable without one."""
    key = await _tenant_secret_key(request, tenant)
    return StripeRefunds(api_key=key, api_base=stripe_api_base(request))


def wants_json(request: web.Request) -> bool:
    """Whether the page script (not a plain form) made the request."""
    return "application/json" in request.headers.get("Accept", "")
