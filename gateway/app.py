"""The composition root: `create_app(settings)` wires pools, caches, middleware and routes.

Everything the process serves is built here, the HTTPS rules (redirect, HSTS)
and the drain signal included; `gateway.server` only runs the result.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from billing.pdf import pdf_rendering
from billing.portal_versions import CustomerReads
from checkout.routes import routes as checkout_routes
from gateway.api.app import create_api_app
from gateway.dashboard.app import TEMPLATE_DIRECTORY as DASHBOARD_TEMPLATES
from gateway.dashboard.app import create_dashboard_app
from gateway.database.pool import create_pool, locate_database, resolve_kek
from gateway.edge import keys
from gateway.edge.acme_http import routes as acme_routes
from gateway.edge.app_host import PREFIX as DASHBOARD_PREFIX
from gateway.edge.branding import routes as brand_routes
from gateway.edge.error_middleware import observed_error_middleware
from gateway.edge.middleware import edge_middleware, host_index_context
from gateway.edge.proxy_routes import setup_proxy_routes
from gateway.edge.response_headers import ResponseHeaders
from gateway.issuers import issuer_context
from gateway.jobs.customer_mail import customer_mail_running
from gateway.jobs.domain_worker import domain_worker_context
from gateway.jobs.outbox_delivery import outbox_delivery_context
from gateway.jobs.renewals import renewal_job_context
from gateway.network.http_guard import SERVER_NAME
from gateway.ops.access_log import ACCESS_LOG, AccessLog
from gateway.ops.health import routes as health_routes
from gateway.ops.metrics import METRICS, metrics_context
from gateway.ops.requests_in_flight import RequestsInFlight
from gateway.settings import Settings
from kernel.sealing import Sealer
from portal.access import CUSTOMER_READS
from portal.invoice_payment_routes import routes as invoice_payment_routes
from portal.page_cache import PAGE_CACHE, PageCache
from portal.payment_method_routes import routes as payment_method_routes
from portal.payment_routes import routes as payment_routes
from portal.routes import routes as portal_routes
from portal.subscription_routes import routes as subscription_routes
from web.assets import routes as web_asset_routes
from web.billing_form import country_menus
from web.i18n import install_gettext
from web.mail.customer_mail import composer_for

TEMPLATE_DIRECTORIES = [
    Path(__file__).parent / "edge" / "templates",
    Path(__file__).parent.parent / "portal" / "templates",
    Path(__file__).parent.parent / "checkout" / "templates",
    Path(__file__).parent.parent / "web" / "templates",
    DASHBOARD_TEMPLATES,
]
# With GATEWAY_WORKER_HEADER on, every response names the process that served it.
WORKER_HEADER = "Gateway-Worker"


async def database_context(app: web.Application) -> AsyncIterator[None]:
    """Locate (or start) PostgreSQL, migrate, open the pool; close and stop on shutdown."""
    settings = app[keys.SETTINGS]
    location = await asyncio.to_thread(locate_database, settings)
    try:
        app[keys.SEALER] = Sealer(await asyncio.to_thread(resolve_kek, settings))
        pool = await create_pool(
            location.url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            command_timeout=settings.db_command_timeout,
        )
        app[keys.POOL] = pool
        app[keys.DATABASE_URL] = location.url
        app[CUSTOMER_READS] = CustomerReads(pool)
        try:
            yield
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(location.close)


async def customer_mail_context(app: web.Application) -> AsyncIterator[None]:
    """Mail customers from the outbox while the app runs (only with GATEWAY_SMTP_HOST set)."""
    settings = app[keys.SETTINGS]
    if settings.smtp_host is None:
        yield
        return
    async with customer_mail_running(
        app[keys.POOL],
        settings=settings,
        compose=composer_for(settings),
        counters=app.get(METRICS),
    ):
        yield


def create_app(
    settings: Settings,
    *,
    domain_worker: bool = True,
    outbox_delivery: bool = True,
    renewals: bool = True,
) -> web.Application:
    """The gateway's application for `settings`; resources open when the app starts.

    API responses are built by their pydantic models, so they match the OpenAPI
    document by construction. `domain_worker` runs the
    background worker that checks DNS and issues and renews certificates; tests
    that drive it step by step (`DomainWorker.run_due`) turn it off; likewise
    `outbox_delivery` for the workers sending events to webhooks and mail to customers,
    and `renewals` for the job that renews, collects and duns subscriptions
    (`RenewalJob.run_due`).

    The process always serves HTTPS too: HTTPS responses carry HSTS, and with
    GATEWAY_REDIRECT_HTTP plain HTTP requests for known hosts get a 308 to HTTPS.
    `keys.DRAINING` is the event a graceful stop sets (then /readyz answers 503).
    """
    app = web.Application(
        # Two layers doing the work of six (bench/notes.md): request log, metrics and
        # errors outside; security headers, host and tenant, database outage inside.
        middlewares=[observed_error_middleware, edge_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.DRAINING] = asyncio.Event()
    app[keys.IN_FLIGHT] = RequestsInFlight()
    # Headers, settings and the access log read once here, not per response (bench/notes.md).
    app[keys.RESPONSE_HEADERS] = ResponseHeaders(
        base_domain=settings.base_domain,
        server=SERVER_NAME,
        worker=(WORKER_HEADER, str(os.getpid())) if settings.worker_header else None,
    )
    app[ACCESS_LOG] = AccessLog(
        sample=settings.access_log_sample, fast_seconds=settings.access_log_fast_ms / 1000
    )
    app.cleanup_ctx.append(database_context)
    app.cleanup_ctx.append(issuer_context)
    app.cleanup_ctx.append(host_index_context)
    app.cleanup_ctx.append(metrics_context)
    # Invoice PDFs render in a child process started on first use; it stops with the app.
    app.cleanup_ctx.append(pdf_rendering)
    app.cleanup_ctx.append(country_menus)
    if outbox_delivery:
        app.cleanup_ctx.append(outbox_delivery_context)
        app.cleanup_ctx.append(customer_mail_context)
    if domain_worker:
        app.cleanup_ctx.append(domain_worker_context)
    if renewals:
        app.cleanup_ctx.append(renewal_job_context)
    _add_pages(app, settings)
    app[PAGE_CACHE] = PageCache()
    return app


def _add_pages(app: web.Application, settings: Settings) -> None:
    """Templates with the catalogues, and every route the process serves."""
    templates = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader([str(path) for path in TEMPLATE_DIRECTORIES]),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    install_gettext(templates)
    for routes in (
        health_routes,
        brand_routes,
        acme_routes,
        portal_routes,
        payment_routes,
        payment_method_routes,
        subscription_routes,
        invoice_payment_routes,
        checkout_routes,
        web_asset_routes,
    ):
        app.router.add_routes(routes)
    setup_proxy_routes(app, settings)
    app.add_subapp("/api/v1", create_api_app(settings))
    app.add_subapp(DASHBOARD_PREFIX, create_dashboard_app())
