"""Customers on the settings page: a searchable list with each one's portal link."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from billing import portal_sessions
from billing.customers import get_customer, search_customers
from billing.formatting import format_day
from gateway.dashboard.auth import Desk, signed_in
from gateway.edge import keys
from gateway.tenants.domains import active_domain, portal_base_url

routes = web.RouteTableDef()

PAGE_SIZE = 50


async def _render(
    request: web.Request, desk: Desk, *, signed: dict[str, str] | None = None
) -> web.StreamResponse:
    pool = request.config_dict[keys.POOL]
    query = request.query.get("q", "")
    found, more = await search_customers(
        pool, tenant_id=desk.tenant.id, query=query, limit=PAGE_SIZE
    )
    base = portal_base_url(
        request.config_dict[keys.SETTINGS],
        desk.tenant,
        await active_domain(pool, tenant_id=desk.tenant.id),
    )
    context = desk.context(
        "customers",
        query=query,
        customers=[
            {
                "id": customer.id,
                "name": customer.name,
                "email": customer.email or "",
                "link": f"{base}/portal/{customer.id}",
            }
            for customer in found
        ],
        more=more,
        page_size=PAGE_SIZE,
        signed_links=desk.tenant.portal.link_mode == "signed",
        signed=signed,
    )
    return aiohttp_jinja2.render_template("dashboard/customers.html", request, context)


@routes.get("/customers")
@signed_in
async def customer_list(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Customers matching `q` (name, email or id), newest first, with "copy portal link"."""
    return await _render(request, desk)


@routes.post("/customers/{customer_id}/signed-link")
@signed_in
async def signed_link(request: web.Request, desk: Desk) -> web.StreamResponse:
    """A fresh signed portal link (signed link mode), shown once on the list to copy."""
    pool = request.config_dict[keys.POOL]
    customer = await get_customer(
        pool, tenant_id=desk.tenant.id, customer_id=request.match_info["customer_id"]
    )
    token, expires_at = await portal_sessions.create_portal_session(
        pool,
        tenant_id=desk.tenant.id,
        customer_id=customer.id,
        ttl_seconds=desk.tenant.portal.link_ttl_seconds,
    )
    base = portal_base_url(
        request.config_dict[keys.SETTINGS],
        desk.tenant,
        await active_domain(pool, tenant_id=desk.tenant.id),
    )
    signed = {
        "name": customer.name,
        "until": f"{format_day(expires_at, desk.language)} {expires_at:%H:%M} UTC",
        "url": f"{base}/portal/{customer.id}?token={token}",
    }
    return await _render(request, desk, signed=signed)
