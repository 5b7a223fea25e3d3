"""Custom domains on the settings page: add, watch the status live, check now, remove.

The domain page polls `status.json` (a JSON document holding the status and the
live part of the page rendered on the server), so the status moves from
pending DNS to active without a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from gateway.dashboard.auth import Desk, signed_in, text_field
from gateway.dashboard.views import domain_status_label, domain_view
from gateway.edge import keys
from gateway.edge.app_host import PREFIX
from gateway.tenants import domains, lifecycle
from gateway.tenants.domains import Domain
from gateway.tenants.errors import InvalidTenantInput, TenantConflict
from gateway.tenants.lifecycle import LifecycleServices

routes = web.RouteTableDef()

# How long "Check now" waits for the check (and an issuance it starts) before showing the
# page; past that the work goes on in the background and the page follows it live.
CHECK_WAIT_SECONDS = 5.0
_background: set[asyncio.Task[Domain]] = set()


def _domain_path(name: str) -> str:
    return f"{PREFIX}/domains/{quote(name, safe='')}"


def _render_list(
    request: web.Request,
    desk: Desk,
    *,
    found: list[Domain],
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status: int = 200,
) -> web.StreamResponse:
    context = desk.context(
        "domains",
        domains=[
            {"name": d.name, "status": d.status, "label": domain_status_label(desk.i18n, d.status)}
            for d in found
        ],
        values=values,
        errors=errors,
        removed=request.query.get("removed"),
        domain_path=_domain_path,
    )
    return aiohttp_jinja2.render_template("dashboard/domains.html", request, context, status=status)


@routes.get("/domains")
@signed_in
async def domain_list(request: web.Request, desk: Desk) -> web.StreamResponse:
    """The tenant's domains and the form to add one."""
    found = await domains.list_domains(request.config_dict[keys.POOL], tenant_id=desk.tenant.id)
    return _render_list(request, desk, found=found, values={"name": ""}, errors={})


@routes.post("/domains")
@signed_in
async def domain_add(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Claim a domain, then show its page with the records to create (CNAME and proof)."""
    pool = request.config_dict[keys.POOL]
    settings = request.config_dict[keys.SETTINGS]
    name = text_field(await request.post(), "name")
    try:
        domain = await domains.add_domain(
            pool,
            tenant_id=desk.tenant.id,
            name=name,
            base_domain=settings.base_domain,
            claim_lifetime=timedelta(days=settings.domain_claim_days),
        )
    except (InvalidTenantInput, TenantConflict) as error:
        errors = (
            dict(error.errors)
            if isinstance(error, InvalidTenantInput)
            else {error.field or "name": str(error)}
        )
        found = await domains.list_domains(pool, tenant_id=desk.tenant.id)
        return _render_list(
            request, desk, found=found, values={"name": name}, errors=errors, status=422
        )
    raise web.HTTPSeeOther(location=_domain_path(domain.name))


async def _live(request: web.Request, desk: Desk, domain: Domain) -> dict[str, Any]:
    certificate = await lifecycle.latest_certificate(request.config_dict[keys.POOL], domain)
    view = domain_view(
        domain,
        certificate,
        settings=request.config_dict[keys.SETTINGS],
        language=desk.language,
        i18n=desk.i18n,
    )
    return desk.context("domains", domain=view, domain_path=_domain_path)


@routes.get("/domains/{name}")
@signed_in
async def domain_page(request: web.Request, desk: Desk) -> web.StreamResponse:
    """One domain: status, record to create, diagnosis, certificate, check now, remove."""
    domain = await domains.get_domain(
        request.config_dict[keys.POOL], tenant_id=desk.tenant.id, name=request.match_info["name"]
    )
    context = await _live(request, desk, domain)
    context["checked_now"] = request.query.get("checked") == "1"
    return aiohttp_jinja2.render_template("dashboard/domain.html", request, context)


@routes.get("/domains/{name}/status.json")
@signed_in
async def domain_status(request: web.Request, desk: Desk) -> web.StreamResponse:
    """What the domain page's script polls: the status and the live part of the page."""
    domain = await domains.get_domain(
        request.config_dict[keys.POOL], tenant_id=desk.tenant.id, name=request.match_info["name"]
    )
    context = await _live(request, desk, domain)
    view = context["domain"]
    html = aiohttp_jinja2.render_string("dashboard/_domain_live.html", request, context)
    return web.json_response(
        {"status": view.status, "label": view.status_label, "settled": view.settled, "html": html}
    )


@routes.post("/domains/{name}/check")
@signed_in
async def domain_check(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Check the DNS now (issuing at once if it points at us) and wake every domain worker."""
    pool = request.config_dict[keys.POOL]
    domain = await domains.get_domain(
        pool, tenant_id=desk.tenant.id, name=request.match_info["name"]
    )
    services = LifecycleServices.build(
        pool=pool,
        sealer=request.config_dict[keys.SEALER],
        settings=request.config_dict[keys.SETTINGS],
        issuer=request.config_dict[keys.ISSUER],
    )
    task = asyncio.create_task(lifecycle.check_now(services, domain))
    _background.add(task)
    task.add_done_callback(_background.discard)
    # Shielded, as in the API: a slow CA keeps issuing after the page is shown.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), CHECK_WAIT_SECONDS)
    await lifecycle.notify_due(pool, domain)
    raise web.HTTPSeeOther(location=_domain_path(domain.name) + "?checked=1")


@routes.post("/domains/{name}/remove")
@signed_in
async def domain_remove(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Remove the domain; its certificates go with it."""
    name = request.match_info["name"]
    await domains.delete_domain(request.config_dict[keys.POOL], tenant_id=desk.tenant.id, name=name)
    raise web.HTTPSeeOther(location=f"{PREFIX}/domains?removed={quote(name, safe='')}")
